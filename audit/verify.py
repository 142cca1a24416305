"""Re-walk hash chains from the stored rows and locate every break.

A chain is verified in ranges of CHUNK_EVENTS seqs, serially or in worker processes. Each range
checks its own rows (content hash, links, seq gaps); the parent then stitches the ranges
together, links the first one to genesis, a purged segment's checkpoint or the stored event
before a --from window, compares the last stored event with the chain head, and checks every
checkpoint. The serial and the parallel walk therefore report exactly the same breaks.
"""

import datetime as dt
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import orjson
from django.db import connection, connections, transaction

from audit.canonical import chain_hash
from audit.models import GENESIS_HASH, AuditChain, AuditCheckpoint

CHUNK_EVENTS = 50_000
PARALLEL_THRESHOLD = 100_000

EVENTS_SQL = """
SELECT id, seq,
       to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       actor_type, actor_id, actor_label, action, entity_type, entity_id, tenant_id, site_code,
       payload::text, prev_hash, hash
  FROM audit_auditevent
 WHERE chain_key = %s AND seq BETWEEN %s AND %s
 ORDER BY seq
"""

# Every chain that has a head, an event or a checkpoint: a deleted head row must not hide a chain.
# The recursive part is a loose index scan over (chain_key, seq), cheap however long the chains.
_ALL_KEYS = """
WITH RECURSIVE k(key) AS (
    (SELECT chain_key FROM audit_auditevent ORDER BY chain_key LIMIT 1)
    UNION ALL
    SELECT (SELECT chain_key FROM audit_auditevent WHERE chain_key > k.key ORDER BY chain_key LIMIT 1)
      FROM k WHERE k.key IS NOT NULL
)
SELECT key FROM k WHERE key IS NOT NULL
UNION SELECT key FROM audit_auditchain
UNION SELECT chain_key FROM audit_auditcheckpoint
ORDER BY 1
"""


@dataclass
class Break:
    """One place where the stored chain is not what was appended.

    expected_hash is what the chain committed to (the event's stored `hash`, or the head or
    checkpoint hash); actual_hash is what the stored data gives now (SHA-256 recomputed from the
    row, or the last stored event's hash).
    """

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


@dataclass
class _Edge:
    """The first or last stored row of a range: enough to stitch ranges together."""

    event_id: int | None
    seq: int
    prev_hash: str
    hash: str
    actual_hash: str = ""


@dataclass
class _RangeResult:
    key: str
    lo: int
    events: int = 0
    breaks: list[Break] = field(default_factory=list)
    first: _Edge | None = None
    last: _Edge | None = None


def chain_keys() -> list[str]:
    with connection.cursor() as cur:
        cur.execute(_ALL_KEYS)
        return [row[0] for row in cur.fetchall()]


def _link_break(key: str, row: _Edge, before: _Edge) -> Break | None:
    """Does `row` follow `before` (seq + 1, prev_hash = its hash)? None when it does."""
    if row.seq != before.seq + 1:
        reason = f"sequence gap: seq {row.seq} follows seq {before.seq} (rows deleted or inserted)"
    elif row.prev_hash != before.hash:
        reason = "prev_hash does not match the previous event's hash"
    else:
        return None
    return Break(key, row.event_id, row.seq, reason, row.prev_hash, before.hash, row.hash, row.actual_hash)


def _verify_range(key: str, lo: int, hi: int) -> _RangeResult:
    """Check seqs lo..hi of one chain on their own: content hashes, links and gaps inside the range."""
    out = _RangeResult(key, lo)
    dumps, loads, sort = orjson.dumps, orjson.loads, orjson.OPT_SORT_KEYS
    before: _Edge | None = None
    connection.ensure_connection()
    # A named (server-side) cursor streams the chain without loading it into memory; it lives
    # inside a transaction, which also gives the walk one consistent snapshot.
    with transaction.atomic(), connection.connection.cursor(name=f"verify_{os.getpid()}_{lo}") as cur:
        cur.itersize = 5000
        cur.execute(EVENTS_SQL, [key, lo, hi])
        for eid, seq, ts, a_type, a_id, a_label, action, e_type, e_id, tenant_id, site, payload, prev, stored in cur:
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
            row = _Edge(eid, seq, prev, stored, chain_hash(prev, canonical))
            if before is None:
                out.first = row
            elif (link := _link_break(key, row, before)) is not None:
                out.breaks.append(link)
            if row.actual_hash != stored:
                out.breaks.append(
                    Break(key, eid, seq, "hash does not match the event's content", prev, "", stored, row.actual_hash)
                )
            before = row
            out.events += 1
    out.last = before
    return out


def _range_job(args) -> _RangeResult:
    return _verify_range(*args)


def _init_worker():
    # Each process opens its own connection; the parent's socket must never be shared.
    for conn in connections.all():
        conn.connection = None
        conn.close_at = None


@dataclass
class _Plan:
    lo: int
    hi: int
    start: _Edge | None  # what seq `lo` must link to; None when that is missing
    head: AuditChain | None
    checkpoints: list[AuditCheckpoint]


def _plan(key: str, since: dt.datetime | None, until: dt.datetime | None) -> _Plan:
    head = AuditChain.objects.filter(key=key).first()
    checkpoints = list(AuditCheckpoint.objects.filter(chain_key=key).order_by("first_seq"))
    purged = [cp for cp in checkpoints if cp.purged_at]
    lo = (purged[-1].last_seq + 1) if purged else 1
    with connection.cursor() as cur:
        # Up to the head, or further when rows were added behind the head's back.
        cur.execute("SELECT max(seq) FROM audit_auditevent WHERE chain_key = %s", [key])
        hi = max(head.head_seq if head else 0, cur.fetchone()[0] or 0)
        if since or until:
            cur.execute(
                "SELECT min(seq), max(seq) FROM audit_auditevent WHERE chain_key = %s "
                "AND (%s::timestamptz IS NULL OR occurred_at >= %s) AND (%s::timestamptz IS NULL OR occurred_at < %s)",
                [key, since, since, until, until],
            )
            rmin, rmax = cur.fetchone()
            if rmin is None:
                return _Plan(1, 0, None, head, checkpoints)
            lo = max(lo, rmin)
            hi = rmax if until else hi
        start: _Edge | None
        if lo == 1:
            start = _Edge(None, 0, "", GENESIS_HASH)
        elif purged and purged[-1].last_seq == lo - 1:
            start = _Edge(None, lo - 1, purged[-1].first_prev_hash, purged[-1].last_hash)
        else:
            cur.execute(
                "SELECT id, prev_hash, hash FROM audit_auditevent WHERE chain_key = %s AND seq = %s", [key, lo - 1]
            )
            row = cur.fetchone()
            start = _Edge(row[0], lo - 1, row[1], row[2]) if row else None
    return _Plan(lo, hi, start, head, checkpoints)


def verify_chains(keys: list[str], *, since=None, until=None, workers: int | None = None) -> list[ChainResult]:
    """Verify each chain in `keys` (optionally only events in [since, until)); one result per key."""
    plans = {key: _plan(key, since, until) for key in keys}
    jobs = [
        (key, start, min(plan.hi, start + CHUNK_EVENTS - 1))
        for key, plan in plans.items()
        for start in range(plan.lo, plan.hi + 1, CHUNK_EVENTS)
    ]
    total = sum(max(0, plan.hi - plan.lo + 1) for plan in plans.values())
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if total >= PARALLEL_THRESHOLD else 1
    if workers > 1 and len(jobs) > 1:
        connections.close_all()
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx, initializer=_init_worker) as pool:
            outcomes = list(pool.map(_range_job, jobs))
    else:
        outcomes = [_range_job(job) for job in jobs]

    by_key: dict[str, list[_RangeResult]] = {key: [] for key in keys}
    for outcome in outcomes:
        by_key[outcome.key].append(outcome)
    return [_assemble(key, plans[key], sorted(by_key[key], key=lambda r: r.lo), until) for key in keys]


def _assemble(key: str, plan: _Plan, ranges: list[_RangeResult], until) -> ChainResult:
    res = ChainResult(key)
    if plan.hi >= plan.lo:
        res.first_seq, res.last_seq = plan.lo, plan.hi
    tip = plan.start
    for rng in ranges:
        res.events += rng.events
        if rng.first is None:
            continue
        if tip is None:
            res.breaks.append(
                Break(
                    key,
                    rng.first.event_id,
                    rng.first.seq,
                    f"the event before seq {rng.first.seq} is missing (rows deleted)",
                    rng.first.prev_hash,
                    "",
                    rng.first.hash,
                    rng.first.actual_hash,
                )
            )
        elif brk := _link_break(key, rng.first, tip):
            res.breaks.append(brk)
        res.breaks.extend(rng.breaks)
        tip = rng.last
    if tip is not None:
        res.head_hash = tip.hash
    if until is None and plan.hi >= plan.lo:
        head_seq, head_hash = (plan.head.head_seq, plan.head.head_hash) if plan.head else (0, GENESIS_HASH)
        tip_seq, tip_hash = (tip.seq, tip.hash) if tip else (None, "")
        if (tip_seq, tip_hash) != (head_seq, head_hash):
            res.breaks.append(
                Break(
                    key,
                    tip.event_id if tip else None,
                    tip_seq,
                    f"chain head (seq {head_seq}) does not match the last stored event (seq {tip_seq}): "
                    "events removed from the tail or added behind the head",
                    tip.prev_hash if tip else "",
                    "",
                    head_hash,
                    tip_hash,
                )
            )
    _check_checkpoints(key, plan.checkpoints, res)
    res.breaks.sort(key=lambda b: (b.seq is None, b.seq or 0))
    return res


def _check_checkpoints(key: str, checkpoints: list[AuditCheckpoint], res: ChainResult) -> None:
    """Checkpoints must tile the chain from seq 1, each linking to the one before, and a sealed
    segment whose events are still stored must start and end exactly where its checkpoint says."""
    prev_last_seq, prev_last_hash = 0, GENESIS_HASH
    with connection.cursor() as cur:
        for cp in checkpoints:
            if cp.first_seq != prev_last_seq + 1 or cp.first_prev_hash != prev_last_hash:
                res.breaks.append(
                    Break(
                        key,
                        None,
                        cp.first_seq,
                        f"checkpoint {cp.first_seq}..{cp.last_seq} does not follow the previous checkpoint",
                        cp.first_prev_hash,
                        prev_last_hash,
                    )
                )
            prev_last_seq, prev_last_hash = cp.last_seq, cp.last_hash
            if cp.purged_at:
                continue
            cur.execute(
                "SELECT seq, id, prev_hash, hash FROM audit_auditevent WHERE chain_key = %s AND seq IN (%s, %s)",
                [key, cp.first_seq, cp.last_seq],
            )
            rows = {seq: (eid, prev, digest) for seq, eid, prev, digest in cur.fetchall()}
            first, last = rows.get(cp.first_seq), rows.get(cp.last_seq)
            if first is None or first[1] != cp.first_prev_hash:
                res.breaks.append(
                    Break(
                        key,
                        first[0] if first else None,
                        cp.first_seq,
                        "sealed segment does not start where its checkpoint says",
                        first[1] if first else "",
                        cp.first_prev_hash,
                    )
                )
            if last is None or last[2] != cp.last_hash:
                res.breaks.append(
                    Break(
                        key,
                        last[0] if last else None,
                        cp.last_seq,
                        "sealed segment differs from its checkpoint",
                        last[1] if last else "",
                        "",
                        cp.last_hash,
                        last[2] if last else "",
                    )
                )


def events_verify(events) -> dict[int, str]:
    """Check a handful of stored events on their own (an object's timeline): each event's content
    hash and its link to the event before it in its chain. {event id: what is wrong} for the bad ones."""
    problems: dict[int, str] = {}
    for e in events:
        res = _verify_range(e.chain_key, max(e.seq - 1, 1), e.seq)
        mine = [b for b in res.breaks if b.seq == e.seq]
        if res.first is not None and res.first.seq == e.seq and e.seq > 1:
            mine.append(Break(e.chain_key, e.pk, e.seq, "the event before it in the chain is missing"))
        if mine:
            problems[e.pk] = "; ".join(b.reason for b in mine)
    return problems
