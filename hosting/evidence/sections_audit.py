"""The audit part of a pack: the customer's own chain for the period — its events at this site (or
at no site) in full, in the export format of audit.export, which audit/standalone_verify.py and the
pack's verify.py both read; its events at other sites as stubs — and the site's
chain for the same period as stubs (seq, prev_hash, hash: another scope's events show that the
chain is unbroken, never what they say); and the server's verification of both, with the chain
head and the nearest checkpoint."""

import orjson
from django.db import connection

from audit.export import _FIELDS as EXPORT_FIELDS
from audit.models import GENESIS_HASH, AuditChain, AuditCheckpoint
from audit.services import chain_key_for
from audit.verify import EVENTS_SQL, verify_chains
from hosting.evidence.context import BuildContext, stream_sql
from hosting.evidence.zipout import PackZip, ts

_RANGE_SQL = """
SELECT min(seq), max(seq) FROM audit_auditevent
 WHERE chain_key = %s AND occurred_at >= %s AND occurred_at < %s
"""


def _hash_at(key: str, seq: int) -> str | None:
    """The hash the event `seq` of the chain ends with: stored, a purged segment's checkpoint, or genesis."""
    if seq <= 0:
        return GENESIS_HASH
    with connection.cursor() as cur:
        cur.execute("SELECT hash FROM audit_auditevent WHERE chain_key = %s AND seq = %s", [key, seq])
        row = cur.fetchone()
    if row:
        return row[0]
    cp = AuditCheckpoint.objects.filter(chain_key=key, last_seq=seq).first()
    return cp.last_hash if cp else None


def _seq_range(key: str, ctx: BuildContext) -> tuple[int, int]:
    """First and last seq of the period; an empty period is (n + 1, n), n the last seq before its end."""
    with connection.cursor() as cur:
        cur.execute(_RANGE_SQL, [key, ctx.start, ctx.end])
        lo, hi = cur.fetchone()
        if lo is None:
            cur.execute(
                "SELECT max(seq) FROM audit_auditevent WHERE chain_key = %s AND occurred_at < %s", [key, ctx.end]
            )
            before = cur.fetchone()[0] or 0
            return before + 1, before
    return lo, hi


def _checkpoints(key: str, lo: int, hi: int) -> tuple[list[dict], dict | None]:
    """Checkpoints ending inside the range (verify.py checks those hashes) and the nearest one: the
    last sealed at or before the period's last event, else the first after it."""
    as_dict = lambda cp: {  # noqa: E731
        "first_seq": cp.first_seq,
        "last_seq": cp.last_seq,
        "period_start": ts(cp.period_start),
        "period_end": ts(cp.period_end),
        "event_count": cp.event_count,
        "first_prev_hash": cp.first_prev_hash,
        "last_hash": cp.last_hash,
        "sealed_at": ts(cp.sealed_at),
        "purged_at": ts(cp.purged_at),
    }
    inside = AuditCheckpoint.objects.filter(chain_key=key, last_seq__gte=lo, last_seq__lte=hi).order_by("first_seq")
    nearest = (
        AuditCheckpoint.objects.filter(chain_key=key, first_seq__lte=max(hi, lo)).order_by("-first_seq").first()
        or AuditCheckpoint.objects.filter(chain_key=key).order_by("first_seq").first()
    )
    return [{"last_seq": cp.last_seq, "last_hash": cp.last_hash} for cp in inside], (
        as_dict(nearest) if nearest else None
    )


def _export(pz: PackZip, key: str, path: str, ctx: BuildContext, *, full: bool) -> dict:
    lo, hi = _seq_range(key, ctx)
    anchor = _hash_at(key, lo - 1) or ""
    last_hash, count = anchor, 0
    with pz.jsonl(path) as out:
        rows = stream_sql(EVENTS_SQL, [key, lo, hi], name=f"evidence_audit_{'full' if full else 'stub'}")
        for _id, seq, occurred, *rest, payload, prev, digest in rows:
            # in full: this tenant's events at this site (or at none); the rest of the chain — its
            # events at its other sites, which an operator of this site may not see — as stubs
            if full and rest[6] == ctx.tenant.pk and rest[7] in (ctx.site.code, None):
                record = dict(zip(EXPORT_FIELDS, (key, seq, occurred, *rest), strict=True))
                record.update(payload=orjson.loads(payload), prev_hash=prev, hash=digest)
                out.row(record)
            else:
                out.row({"chain": key, "seq": seq, "prev_hash": prev, "hash": digest, "stub": True})
            last_hash, count = digest, count + 1
    inside, nearest = _checkpoints(key, lo, hi)
    return {
        "chain": key,
        "path": path,
        "full": full,
        "first_seq": lo,
        "last_seq": hi if count else lo - 1,
        "events": count,
        "anchor_hash": anchor,
        "last_hash": last_hash,
        "checkpoints": inside,
        "nearest_checkpoint": nearest,
    }


def audit_files(pz: PackZip, ctx: BuildContext) -> list[dict]:
    """audit/tenant_chain.jsonl, audit/site_chain.jsonl, audit/chain_verification.json; returns the
    chain specs for the manifest (what verify.py re-checks)."""
    own = chain_key_for(tenant_id=ctx.tenant.pk)
    site = chain_key_for(site_code=ctx.site.code)
    specs = [
        _export(pz, own, "audit/tenant_chain.jsonl", ctx, full=True),
        _export(pz, site, "audit/site_chain.jsonl", ctx, full=False),
    ]
    results = {r.chain: r for r in verify_chains([own, site], since=ctx.start, until=ctx.end)}
    heads = {c.key: c for c in AuditChain.objects.filter(key__in=[own, site])}
    report = []
    for spec in specs:
        res, head = results[spec["chain"]], heads.get(spec["chain"])
        report.append(
            {
                "chain": spec["chain"],
                "scope": "own events in full" if spec["full"] else "stubs (seq, prev_hash, hash) of site events",
                "result": "PASS" if res.ok else "FAIL",
                "events_verified": res.events,
                "first_seq": spec["first_seq"],
                "last_seq": spec["last_seq"],
                "period_last_hash": spec["last_hash"],
                "anchor_hash": spec["anchor_hash"],
                "head_seq": head.head_seq if head else 0,
                "head_hash": head.head_hash if head else GENESIS_HASH,
                "head_at": ts(head.head_at) if head else "",
                "nearest_checkpoint": spec["nearest_checkpoint"],
                # a break names seqs and hashes only, never another scope's content
                "breaks": [{"seq": b.seq, "reason": b.reason} for b in res.breaks] if spec["full"] else len(res.breaks),
            }
        )
    pz.json("audit/chain_verification.json", {"verified_at": ts(ctx.now), "chains": report})
    return [{k: v for k, v in s.items() if k != "nearest_checkpoint"} for s in specs]
