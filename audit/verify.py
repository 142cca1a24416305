"""Re-walk hash chains from the stored rows and locate every break."""

import datetime as dt
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import orjson
from django.db import connection, connections, transaction

from audit.canonical import chain_hash
from audit.models import GENESIS_HASH, AuditChain, AuditCheckpoint

CHUNK_EVENTS = 100_000
PARALLEL_THRESHOLD = 200_000

_SELECT = """
SELECT id, seq,
       to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       actor_type, actor_id, actor_label, action, entity_type, entity_id, tenant_id, site_code,
       payload::text, prev_hash, hash
  FROM audit_auditevent
 WHERE chain_key = %s AND seq BETWEEN %s AND %s
 ORDER BY seq
"""


@dataclass
class Break:
    chain: str
    event_id: int | None
    seq: int | None
    reason: str
    stored_prev_hash: str = ""
    expected_prev_hash: str = ""
    expected_hash: str = ""
    actual_hash: str = ""

    def line(self) -> str:
        return (
            f"FAIL chain={self.chain} event_id={self.event_id} seq={self.seq} reason={self.reason} "
            f"stored_prev_hash={self.stored_prev_hash or '-'} expected_prev_hash={self.expected_prev_hash or '-'} "
            f"expected_hash={self.expected_hash or '-'} actual_hash={self.actual_hash or '-'}"
        )


@dataclass
class ChainResult:
    chain: str
    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_hash: str = ""
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks


def _predecessor_hash(cur, key: str, seq: int, checkpoints: list[AuditCheckpoint]) -> str | None:
    """The hash event `seq` must link to: the stored event before it, a checkpoint, or genesis."""
    if seq <= 1:
        return GENESIS_HASH
    cur.execute("SELECT hash FROM audit_auditevent WHERE chain_key = %s AND seq = %s", [key, seq - 1])
    row = cur.fetchone()
    if row:
        return row[0]
    for cp in checkpoints:
        if cp.last_seq == seq - 1:
            return cp.last_hash
    return None


def _verify_range(key: str, lo: int, hi: int, checkpoints: list[AuditCheckpoint]) -> tuple[int, list[Break], str]:
    """Verify seqs lo..hi of one chain; returns (events seen, breaks, last stored hash)."""
    breaks: list[Break] = []
    seen = 0
    dumps, loads, sort = orjson.dumps, orjson.loads, orjson.OPT_SORT_KEYS
    connection.ensure_connection()
    with connection.cursor() as cur:
        expected_prev = _predecessor_hash(cur, key, lo, checkpoints)
        if expected_prev is None:
            breaks.append(Break(key, None, lo, f"missing predecessor of seq {lo} (deleted rows before it)"))
    expected_seq = lo
    last_hash = ""
    # A named (server-side) cursor streams the chain without loading it into memory; it lives
    # inside a transaction, which also gives the walk one consistent snapshot.
    with transaction.atomic(), connection.connection.cursor(name=f"verify_{os.getpid()}_{lo}") as cur:
        cur.itersize = 5000
        cur.execute(_SELECT, [key, lo, hi])
        for (eid, seq, ts, a_type, a_id, a_label, action, e_type, e_id, tenant_id, site, payload, prev, stored) in cur:
            seen += 1
            if seq != expected_seq:
                breaks.append(Break(key, eid, seq, f"sequence gap: expected seq {expected_seq} (rows deleted or inserted)", prev, expected_prev or ""))
            elif expected_prev is not None and prev != expected_prev:
                breaks.append(Break(key, eid, seq, "prev_hash does not match the previous event's hash", prev, expected_prev))
            canonical = dumps(
                {
                    "chain": key,
                    "seq": seq,
                    "occurred_at": ts,
                    "actor_type": a_type,
                    "actor_id": a_id,
                    "actor_label": a_label,
                    "action": action,
                    "entity_type": e_type,
                    "entity_id": e_id,
                    "tenant_id": tenant_id,
                    "site": site,
                    "payload": loads(payload),
                },
                option=sort,
            )
            actual = chain_hash(prev, canonical)
            if actual != stored:
                breaks.append(Break(key, eid, seq, "hash does not match the event's content", prev, expected_prev or "", stored, actual))
            expected_prev = stored
            expected_seq = seq + 1
            last_hash = stored
    if expected_seq != hi + 1 and not breaks:
        breaks.append(Break(key, None, expected_seq, f"missing events {expected_seq}..{hi}"))
    return seen, breaks, last_hash


def _range_job(args):
    key, lo, hi, checkpoints = args
    return key, lo, _verify_range(key, lo, hi, checkpoints)


def _init_worker():
    # Each process opens its own connection; the parent's socket must never be shared.
    for conn in connections.all():
        conn.connection = None
        conn.close_at = None


def _plan(key: str, since: dt.datetime | None, until: dt.datetime | None) -> tuple[int, int, list[AuditCheckpoint], AuditChain | None]:
    head = AuditChain.objects.filter(key=key).first()
    checkpoints = list(AuditCheckpoint.objects.filter(chain_key=key).order_by("first_seq"))
    purged = [cp for cp in checkpoints if cp.purged_at]
    lo = (purged[-1].last_seq + 1) if purged else 1
    hi = head.head_seq if head else 0
    if since or until:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT min(seq), max(seq) FROM audit_auditevent WHERE chain_key = %s "
                "AND (%s::timestamptz IS NULL OR occurred_at >= %s) AND (%s::timestamptz IS NULL OR occurred_at < %s)",
                [key, since, since, until, until],
            )
            rmin, rmax = cur.fetchone()
        if rmin is None:
            return 1, 0, checkpoints, head
        lo = max(lo, rmin)
        hi = rmax if until else hi
    return lo, hi, checkpoints, head


def verify_chains(keys: list[str], *, since=None, until=None, workers: int | None = None) -> list[ChainResult]:
    plans = {key: _plan(key, since, until) for key in keys}
    jobs = []
    for key, (lo, hi, cps, _head) in plans.items():
        for start in range(lo, hi + 1, CHUNK_EVENTS):
            jobs.append((key, start, min(hi, start + CHUNK_EVENTS - 1), cps))
    total = sum(hi - lo + 1 for lo, hi, _, _ in plans.values() if hi >= lo)
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if total >= PARALLEL_THRESHOLD else 1
    if workers > 1 and len(jobs) > 1:
        connections.close_all()
        import multiprocessing

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_init_worker) as pool:
            outcomes = list(pool.map(_range_job, jobs))
    else:
        outcomes = [_range_job(job) for job in jobs]

    results = {key: ChainResult(key) for key in keys}
    for key, lo, (seen, breaks, last_hash) in sorted(outcomes, key=lambda o: (o[0], o[1])):
        res = results[key]
        res.events += seen
        res.breaks.extend(breaks)
        res.head_hash = last_hash or res.head_hash
    for key, (lo, hi, cps, head) in plans.items():
        res = results[key]
        res.first_seq, res.last_seq = (lo, hi) if hi >= lo else (None, None)
        _check_checkpoints(key, cps, res)
        if until is None and head is not None and res.ok and res.head_hash != head.head_hash:
            res.breaks.append(
                Break(key, None, head.head_seq, "chain head does not match the last stored event (truncated tail)", expected_hash=head.head_hash, actual_hash=res.head_hash)
            )
    return [results[k] for k in keys]


def _check_checkpoints(key: str, checkpoints: list[AuditCheckpoint], res: ChainResult) -> None:
    prev_last = GENESIS_HASH
    with connection.cursor() as cur:
        for cp in checkpoints:
            if cp.first_prev_hash != prev_last:
                res.breaks.append(Break(key, None, cp.first_seq, "checkpoint does not link to the previous checkpoint", cp.first_prev_hash, prev_last))
            prev_last = cp.last_hash
            if cp.purged_at:
                continue
            cur.execute("SELECT id, hash FROM audit_auditevent WHERE chain_key = %s AND seq = %s", [key, cp.last_seq])
            row = cur.fetchone()
            if row is None or row[1] != cp.last_hash:
                res.breaks.append(
                    Break(key, row[0] if row else None, cp.last_seq, "sealed segment differs from its checkpoint", expected_hash=cp.last_hash, actual_hash=row[1] if row else "")
                )
