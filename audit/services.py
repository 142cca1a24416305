"""The one way anything is written to the audit log."""

import datetime as dt
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import orjson
import pgtrigger
import structlog
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models.functions import TruncMonth
from django.utils import timezone

from audit.canonical import canonical_parts, normalize_payload
from audit.models import GENESIS_HASH, AuditChain, AuditCheckpoint, AuditEvent

logger = structlog.get_logger(__name__)

PLATFORM_CHAIN = "platform"


@dataclass(frozen=True)
class Actor:
    """Who did it: a user, a collector, or the system (a named job)."""

    kind: str
    id: str
    label: str = ""

    @classmethod
    def user(cls, user) -> "Actor":
        return cls("user", str(user.pk), user.get_username())

    @classmethod
    def collector(cls, collector, device_id: str = "") -> "Actor":
        label = f"{collector.site.code}/{collector.name}" + (f" device={device_id}" if device_id else "")
        return cls("collector", str(collector.pk), label)

    @classmethod
    def system(cls, name: str) -> "Actor":
        return cls("system", name, name)


@dataclass
class EventSpec:
    """One event to append; the chain follows from tenant/site (tenant wins)."""

    action: str
    entity_type: str
    entity_id: str
    payload: dict = field(default_factory=dict)
    tenant_id: int | None = None
    site_code: str | None = None

    @property
    def chain_key(self) -> str:
        return chain_key_for(tenant_id=self.tenant_id, site_code=self.site_code)


def chain_key_for(*, tenant_id: int | None = None, site_code: str | None = None) -> str:
    if tenant_id is not None:
        return f"tenant:{tenant_id}"
    if site_code:
        return f"site:{site_code}"
    return PLATFORM_CHAIN


def entity_ref(obj) -> tuple[str, str]:
    return f"{obj._meta.app_label}.{obj._meta.model_name}", str(obj.pk)


# An event about several entities (a poll's dispatch of many commands: one event per chain, SPEC §8)
# names each in payload[REFS_KEY] as "<entity_type>:<entity_id>"; audit.selectors.events_about finds
# it for each of them (a GIN index on that key).
REFS_KEY = "refs"


def entity_ref_key(entity_type: str, entity_id) -> str:
    return f"{entity_type}:{entity_id}"


def audit_record(
    *,
    actor: Actor,
    action: str,
    entity: models.Model | None = None,
    entity_type: str = "",
    entity_id: str = "",
    payload: dict | None = None,
    tenant_id: int | None = None,
    site_code: str | None = None,
) -> AuditEvent | None:
    if entity is not None:
        entity_type, entity_id = entity_ref(entity)
    spec = EventSpec(action, entity_type, str(entity_id), payload or {}, tenant_id, site_code)
    rows = audit_record_many(actor=actor, events=[spec])
    return None if isinstance(rows, _Deferred) else rows[0]  # inside audit_deferred(): not written yet


_EVENT_FIELDS = (
    "chain_key",
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "entity_type",
    "entity_id",
    "tenant_id",
    "site_code",
    "payload",
    "prev_hash",
    "hash",
)


@transaction.atomic(savepoint=False)
def audit_record_many(*, actor: Actor, events: list[EventSpec]) -> Sequence[AuditEvent]:
    """Append events in the caller's transaction, each to its chain, under one head lock per chain.

    The head lock is held to the end of the caller's transaction, so every append to a busy chain
    waits for the one before it to commit; the work done under it is kept to what needs the head.
    Each event's canonical form is serialised here, before the lock, but for the two values the
    head decides, its time and seq (audit.canonical.canonical_parts); then one statement, the
    audit_append() database function (audit migration 0002), locks the heads in key order, joins
    those in, hashes, writes the events and moves the heads, with no round trip to this process
    while it holds them. No savepoint: an append that fails must fail the caller's transaction (a
    transition without its audit event must not commit). Inside `audit_deferred()` the events
    are queued and written when the block ends."""
    if not events:
        return []
    deferred = getattr(_local, "deferred", None)
    if deferred is not None:
        if deferred.depth != _savepoint_depth():
            # A savepoint rolled back after this would have to take these events with it, and
            # writing them now would put them before the ones queued earlier.
            raise RuntimeError("no audit append inside a savepoint opened within audit_deferred()")
        deferred.events += [(actor, spec) for spec in events]
        return _Deferred()
    return _append([(actor, spec) for spec in events])


def _append(pairs: list[tuple[Actor, EventSpec]]) -> Sequence[AuditEvent]:
    by_chain: dict[str, list[tuple[dict, bytes]]] = {}
    for actor, spec in pairs:
        key = spec.chain_key
        payload_json = orjson.dumps(normalize_payload(spec.payload), option=orjson.OPT_SORT_KEYS)
        c0, c1, c2 = canonical_parts(
            chain=key,
            actor_type=actor.kind,
            actor_id=actor.id,
            actor_label=actor.label,
            action=spec.action,
            entity_type=spec.entity_type,
            entity_id=spec.entity_id,
            tenant_id=spec.tenant_id,
            site=spec.site_code,
            payload=payload_json,
        )
        record = {
            "chain_key": key,
            "actor_type": actor.kind,
            "actor_id": actor.id,
            "actor_label": actor.label,
            "action": spec.action,
            "entity_type": spec.entity_type,
            "entity_id": spec.entity_id,
            "tenant_id": spec.tenant_id,
            "site_code": spec.site_code,
            "payload": orjson.Fragment(payload_json),
            "c0": c0.decode(),
            "c1": c1.decode(),
            "c2": c2.decode(),
        }
        by_chain.setdefault(key, []).append((record, payload_json))
    ordered = [event for key in sorted(by_chain) for event in by_chain[key]]  # grouped, in lock order
    records = [record for record, _ in ordered]
    with connection.cursor() as cur:
        cur.execute(
            "SELECT * FROM audit_append(%s, %s, %s::jsonb)",
            [timezone.now(), GENESIS_HASH, orjson.dumps(records).decode()],
        )
        written = cur.fetchall()
    return AppendedEvents(records, [payload for _, payload in ordered], written, connection.alias)


_local = threading.local()


@dataclass
class _Queue:
    depth: int
    events: list = field(default_factory=list)


def _savepoint_depth() -> int:
    # Django's Atomic keeps one entry per open atomic block inside the outermost one: a savepoint
    # id, or None for a block that made none (savepoint=False).
    return sum(1 for sid in connection.savepoint_ids if sid is not None)


def _flush(queue: _Queue) -> None:
    events, queue.events = queue.events, []
    if events:
        _append(events)


@contextmanager
def audit_deferred():
    """Queue the audit appends made inside the block and write them in one append as it ends,
    in the caller's transaction (one must be open around the block).

    A service that appends several times in one transaction (an ACK: `acked`, then the verdict)
    would hold each chain head from its first append to its commit, with everything in between
    under the lock; deferred, it locks each head once, last. Events keep their order. An append
    inside a savepoint opened within the block (a nested atomic() that could be rolled back while
    the transaction goes on) is refused: its events could not follow the savepoint's fate. The
    events do not exist until the block ends: audit_record returns None inside it, and the rows
    of audit_record_many cannot be read."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_deferred() needs an open transaction around it")
    if getattr(_local, "deferred", None) is not None:  # nested: the outer block writes
        yield
        return
    queue = _local.deferred = _Queue(depth=_savepoint_depth())
    try:
        yield
    except BaseException:
        _local.deferred = None
        raise
    _local.deferred = None
    _flush(queue)


class _Deferred(Sequence):
    """What audit_record_many returns inside audit_deferred(): the events are not written yet."""

    def __getitem__(self, index):
        raise RuntimeError("audit events appended inside audit_deferred() are written when the block ends")

    def __len__(self) -> int:
        raise RuntimeError("audit events appended inside audit_deferred() are written when the block ends")


class AppendedEvents(Sequence):
    """The appended events, as AuditEvent rows made when first looked at: most callers append and
    move on, and a hundred model instances cost more than the hashing (a poll's lease events)."""

    def __init__(self, records: list[dict], payloads: list[bytes], returned: list[tuple], alias: str):
        self._pending: tuple[list[dict], list[bytes], list[tuple], str] | None = (records, payloads, returned, alias)
        self._rows: list[AuditEvent] = []

    def _load(self) -> list[AuditEvent]:
        if self._pending is not None:
            records, payloads, returned, alias = self._pending
            # records are grouped by chain in key order and numbered in order within a chain
            returned = sorted(returned, key=lambda row: (row[1], row[2]))
            for record, payload, (pk, key, seq, at, prev, digest) in zip(records, payloads, returned, strict=True):
                assert key == record["chain_key"]
                fields = {f: record[f] for f in _EVENT_FIELDS if f in record and f != "payload"}
                row = AuditEvent(
                    pk=pk, seq=seq, occurred_at=at, prev_hash=prev, hash=digest, payload=orjson.loads(payload), **fields
                )
                row._state.adding = False
                row._state.db = alias
                self._rows.append(row)
            self._pending = None
        return self._rows

    def __getitem__(self, index):
        return self._load()[index]

    def __len__(self) -> int:
        return len(self._load())


def _month_start(value: dt.datetime) -> dt.datetime:
    value = value.astimezone(dt.UTC)
    return value.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(value: dt.datetime) -> dt.datetime:
    return (value.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


@transaction.atomic
def audit_seal_segments(*, now: dt.datetime | None = None) -> list[AuditCheckpoint]:
    """Seal every finished calendar month of every chain into a checkpoint. Safe to run twice."""
    now = now or timezone.now()
    current_month = _month_start(now)
    sealed: list[AuditCheckpoint] = []
    for key in AuditChain.objects.order_by("key").values_list("key", flat=True):
        # Lock the head so the segment bounds cannot move under a concurrent append or seal.
        AuditChain.objects.select_for_update().filter(key=key).first()
        last = AuditCheckpoint.objects.filter(chain_key=key).order_by("-last_seq").first()
        after_seq = last.last_seq if last else 0
        months = (
            AuditEvent.objects.filter(chain_key=key, seq__gt=after_seq, occurred_at__lt=current_month)
            .annotate(month=TruncMonth("occurred_at", tzinfo=dt.UTC))
            .values("month")
            .annotate(first_seq=models.Min("seq"), last_seq=models.Max("seq"), n=models.Count("id"))
            .order_by("month")
        )
        for m in months:
            first = AuditEvent.objects.only("prev_hash").get(chain_key=key, seq=m["first_seq"])
            last_event = AuditEvent.objects.only("hash").get(chain_key=key, seq=m["last_seq"])
            sealed.append(
                AuditCheckpoint.objects.create(
                    chain_key=key,
                    period_start=m["month"],
                    period_end=_next_month(m["month"]),
                    first_seq=m["first_seq"],
                    last_seq=m["last_seq"],
                    event_count=m["n"],
                    first_prev_hash=first.prev_hash,
                    last_hash=last_event.hash,
                    sealed_at=now,
                )
            )
    if sealed:
        audit_record(
            actor=Actor.system("audit.seal"),
            action="audit.segment.sealed",
            entity_type="audit.chain",
            entity_id="*",
            payload={
                "segments": [
                    {"chain": c.chain_key, "first_seq": c.first_seq, "last_seq": c.last_seq, "last_hash": c.last_hash}
                    for c in sealed
                ]
            },
        )
    return sealed


@transaction.atomic
def audit_purge_expired(*, now: dt.datetime | None = None, retention_days: int | None = None) -> int:
    """Delete the events of whole sealed segments older than the retention. Returns events removed."""
    now = now or timezone.now()
    retention_days = retention_days or settings.AUDIT_RETENTION_DAYS
    cutoff = now - dt.timedelta(days=retention_days)
    expired = list(
        AuditCheckpoint.objects.select_for_update()
        .filter(purged_at__isnull=True, period_end__lte=cutoff)
        .order_by("chain_key", "first_seq")
    )
    removed = 0
    purged = []
    for cp in expired:
        with pgtrigger.ignore("audit.AuditEvent:audit_event_no_delete"):
            with connection.cursor() as cur:
                cur.execute(
                    "DELETE FROM audit_auditevent WHERE chain_key = %s AND seq BETWEEN %s AND %s",
                    [cp.chain_key, cp.first_seq, cp.last_seq],
                )
                removed += cur.rowcount
        AuditCheckpoint.objects.filter(pk=cp.pk).update(purged_at=now)
        purged.append(
            {"chain": cp.chain_key, "first_seq": cp.first_seq, "last_seq": cp.last_seq, "period_start": cp.period_start}
        )
    if purged:
        audit_record(
            actor=Actor.system("audit.retention"),
            action="audit.segment.purged",
            entity_type="audit.chain",
            entity_id="*",
            payload={"retention_days": retention_days, "events_removed": removed, "segments": purged},
        )
        logger.info("audit.purged", events_removed=removed, segments=len(purged))
    return removed
