"""The simulated farm's uploads: request bodies built like the collector's, the HTTP uplink
with its back-off, and the spool that replays what failed (COLLECTOR_PROTOCOL §2)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import requests

from verification.fleet import (
    BATCH_SIZE,
    ENVELOPE_SCHEMA,
    LEGACY_PATH,
    MODES,
    RETRY_INTERVAL_SEC,
    V1_PATH,
    Fleet,
    utcnow,
)

# --- bodies and uploads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """One POST as the collector builds it; `body` is what it stores in its spool and re-sends."""

    path: str
    mode: str  # X-Upload-Mode
    body: bytes
    records: int
    api_mode: str = "legacy"


def encode(payload) -> bytes:
    # Python's default separators and gzip.compress: what the collector's `requests` code sends.
    return gzip.compress(json.dumps(payload).encode())


def build_chunks(
    records: list[dict],
    *,
    mode: str,
    api_mode: str = "legacy",
    site_code: str,
    device_id: str,
    zone_id: str = "",
    batch_size: int = BATCH_SIZE,
    sent_at: dt.datetime | None = None,
    envelope: bool | None = None,
) -> list[Chunk]:
    """Split a cycle's records into POST bodies. `v1` sends the envelope; `auto` a bare list on the
    v1 path (the packaged app cannot turn the envelope on); `legacy` a list on the legacy path."""
    if api_mode not in MODES:
        raise ValueError(f"api mode must be one of {MODES}")
    use_envelope = api_mode == "v1" if envelope is None else envelope
    path = LEGACY_PATH if api_mode == "legacy" else V1_PATH
    stamp = (sent_at or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")
    chunks = []
    for i in range(0, len(records), batch_size):
        part = records[i : i + batch_size]
        if use_envelope:
            payload = {
                "schema": ENVELOPE_SCHEMA,
                "site_id": site_code,
                "zone_id": zone_id,
                "device_id": device_id,
                "sent_at": stamp,
                "mode": mode,
                "record_count": len(part),
                "source_seq_start": 0,  # the collector's sequence manager is never created: always 0
                "source_seq_end": 0,
                "compression": "gzip",
                "records": part,
            }
        else:
            payload = part
        chunks.append(Chunk(path=path, mode=mode, body=encode(payload), records=len(part), api_mode=api_mode))
    return chunks


@dataclass
class Sent:
    """What one POST got back."""

    chunk: Chunk
    status: int
    latency: float  # seconds, both POSTs of an auto fallback included
    answer: dict = field(default_factory=dict)
    error: str = ""
    fell_back: bool = False

    @property
    def ok(self) -> bool:
        # The collector's rule (§2.4): only 200 with a truthy `success` is done; anything else is spooled.
        return self.status == 200 and bool(self.answer.get("success"))

    def count(self, key: str) -> int:
        value = self.answer.get(key, 0)
        return value if isinstance(value, int) else 0


class Uplink:
    """The collector's HTTP side: one keep-alive session, its headers, sequential POSTs."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str,
        site_code: str,
        device_id: str | None = None,
        zone_id: str = "",
        timeout: tuple[float, float] = (2.0, 30.0),
    ):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.site_code = site_code
        self.device_id = device_id or str(uuid.uuid4())
        self.zone_id = zone_id
        self.timeout = timeout
        self.session = requests.Session()

    def headers(self, mode: str) -> dict:
        return {
            "X-Collector-Key": self.token,
            "X-Site-ID": self.site_code,
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/octet-stream",
            "X-Device-ID": self.device_id,
            "X-Zone-ID": self.zone_id,  # always sent, "" when there is no zone
            "X-Upload-Mode": mode,
            "Content-Encoding": "gzip",
        }

    def chunks(
        self,
        records: list[dict],
        *,
        mode: str,
        api_mode: str = "legacy",
        batch_size: int = BATCH_SIZE,
        sent_at: dt.datetime | None = None,
    ) -> list[Chunk]:
        return build_chunks(
            records,
            mode=mode,
            api_mode=api_mode,
            site_code=self.site_code,
            device_id=self.device_id,
            zone_id=self.zone_id,
            batch_size=batch_size,
            sent_at=sent_at,
        )

    def send(self, chunk: Chunk) -> Sent:
        started = time.perf_counter()
        status, answer, error, fell_back = self._post(chunk.path, chunk)
        if chunk.api_mode == "auto" and status in (404, 405):
            # auto mode: the same batch at once to the legacy path (an envelope would be unwrapped first)
            body = chunk.body
            payload = json.loads(gzip.decompress(body))
            if isinstance(payload, dict):
                body = encode(payload.get("records", []))
            status, answer, error, _ = self._post(
                LEGACY_PATH, Chunk(LEGACY_PATH, chunk.mode, body, chunk.records, "legacy")
            )
            fell_back = True
        return Sent(
            chunk=chunk,
            status=status,
            latency=time.perf_counter() - started,
            answer=answer,
            error=error,
            fell_back=fell_back,
        )

    def _post(self, path: str, chunk: Chunk) -> tuple[int, dict, str, bool]:
        try:
            response = self.session.post(
                self.base_url + path, data=chunk.body, headers=self.headers(chunk.mode), timeout=self.timeout
            )
        except requests.RequestException as exc:
            return 0, {}, f"{type(exc).__name__}: {exc}", False
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        error = (
            ""
            if response.status_code == 200
            else str(answer.get("error_code") or answer.get("error") or response.reason)
        )
        return response.status_code, answer, error, False

    def close(self) -> None:
        self.session.close()


class Spool:
    """The collector's offline spool: failed chunks kept as sent, replayed oldest first, at most
    `per_tick` per `retry_interval` (1 per 5 min in the packaged app), dropped after `max_retries`."""

    def __init__(self, *, retry_interval: float = RETRY_INTERVAL_SEC, per_tick: int = 1, max_retries: int = 5):
        self.pending: list[list] = []  # [chunk, failed replays]
        self.retry_interval = retry_interval
        self.per_tick = per_tick
        self.max_retries = max_retries
        self.last_replay: float | None = None
        self.given_up = 0

    def add(self, chunk: Chunk) -> None:
        self.pending.append([chunk, 0])

    def __len__(self) -> int:
        return len(self.pending)

    def due(self, now: float) -> list[Chunk]:
        if self.last_replay is None:
            self.last_replay = now  # the first replay is ≥ retry_interval after start
            return []
        if now - self.last_replay < self.retry_interval or not self.pending:
            return []
        self.last_replay = now
        return [entry[0] for entry in self.pending[: self.per_tick]]

    def result(self, chunk: Chunk, ok: bool) -> None:
        for entry in self.pending:
            if entry[0] is chunk:
                if ok:
                    self.pending.remove(entry)
                else:
                    entry[1] += 1
                    if entry[1] >= self.max_retries:
                        self.pending.remove(entry)
                        self.given_up += 1
                return


def records_of(body: bytes) -> list[dict]:
    """The records inside a body (list or envelope) — for tests and checks."""
    payload = json.loads(gzip.decompress(body))
    return payload["records"] if isinstance(payload, dict) else payload


def chunk_stream(
    fleet: Fleet,
    cycles: Iterable[tuple[dt.datetime, str]],
    uplink: Uplink,
    *,
    api_mode: str = "legacy",
    batch_size: int = BATCH_SIZE,
) -> Iterator[tuple[dt.datetime, str, list[Chunk]]]:
    """Play `cycles` through the fleet and cut each into POST bodies (sent_at = the cycle time)."""
    for at, mode in cycles:
        records = fleet.cycle(at, mode)
        yield at, mode, uplink.chunks(records, mode=mode, api_mode=api_mode, batch_size=batch_size, sent_at=at)
