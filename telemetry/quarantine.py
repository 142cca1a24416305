"""Encrypted uploads the cloud cannot open yet (SPEC §4.1, COLLECTOR_PROTOCOL §2.3–2.4).

An envelope whose collector has no payload key yet — or whose ciphertext none of its keys opens
— is held as received (a QuarantinedBatch: the body bytes and the headers that matter) and
answered 200 {"success": true, "quarantined": true}: the collector treats anything else as
"spool and re-send", and re-sending the same bytes cannot help. Held batches are counted
(telemetry_quarantined_batches_total) and listed in the console.

When a key is registered (telemetry.payload_keys) and every few minutes on beat, the drain
replays each open batch of a collector with a key, oldest first, through telemetry_ingest_batch
— so validation, de-duplication and receipts are the normal ones and a batch ingested twice adds
nothing. Done batches point at their receipt; one that still does not open stays, `failed`,
with its reason, and is tried again only once the collector's keys have changed.
"""

import hashlib

import structlog
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from audit.services import Actor, audit_record
from core.errors import DomainError
from core.periodic import advisory_lock_key
from core.sealing import SealedValueUnreadable, SealingUnavailable
from telemetry import metrics
from telemetry.ingest.errors import QuarantineFull
from telemetry.models import CollectorPayloadKey, QuarantinedBatch, QuarantineStatus
from telemetry.payload_keys import payload_keys_for
from tenants.collector_auth import CollectorPrincipal
from tenants.models import Collector

logger = structlog.get_logger(__name__)
OPEN = ~Q(status=QuarantineStatus.DONE)
# Reasons that say nothing about the batch itself, only that no usable key was there to try.
KEY_TROUBLE = ("PAYLOAD_KEY_MISSING", SealingUnavailable.error_code, SealedValueUnreadable.error_code)


def quarantine_hold(
    *,
    principal,
    body: bytes,
    endpoint: str,
    mode: str,
    zone_code: str,
    now,
    reason: DomainError,
    tried_keys: str = "",
) -> QuarantinedBatch:
    """Keep an upload that cannot be opened yet; the same bytes sent again are held once."""
    collector = principal.collector
    digest = hashlib.sha256(body).hexdigest()
    held = QuarantinedBatch.objects.filter(OPEN, collector=collector, body_sha256=digest).first()
    if held is not None:
        return held
    usage = QuarantinedBatch.objects.filter(OPEN, collector=collector).aggregate(n=Count("pk"), size=Sum("body_bytes"))
    if (
        usage["n"] >= settings.TELEMETRY_QUARANTINE_MAX_BATCHES
        or (usage["size"] or 0) + len(body) > settings.TELEMETRY_QUARANTINE_MAX_BYTES
    ):
        metrics.quarantine_refused_total.inc()
        raise QuarantineFull(
            f"collector {collector} already holds {usage['n']} quarantined batches "
            f"({usage['size'] or 0} bytes): register its payload key"
        )
    row = QuarantinedBatch(
        site_id=collector.site_id,
        collector=collector,
        token=principal.token,
        device_id=principal.device_id[:128],
        endpoint=endpoint,
        mode=mode,
        zone_code=zone_code[:64],
        received_at=now,
        body=body,
        body_sha256=digest,
        body_bytes=len(body),
        status=QuarantineStatus.FAILED if reason.error_code == "PAYLOAD_DECRYPT_FAILED" else QuarantineStatus.PENDING,
        reason=reason.error_code,
        detail=reason.message[:255],
        tried_keys=tried_keys,
    )
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:  # the same bytes held by a concurrent request a moment ago
        return QuarantinedBatch.objects.get(OPEN, collector=collector, body_sha256=digest)
    metrics.quarantined_batches_total.labels(reason.error_code).inc()
    logger.warning(
        "telemetry.quarantined", collector=str(collector), reason=reason.error_code, batch=row.pk, bytes=len(body)
    )
    return row


def quarantine_drain(*, collector_id: int | None = None, limit: int = 500) -> dict[str, int]:
    """Ingest the open quarantined batches of collectors that have a key (one collector, or all).
    Returns counts by outcome. Safe to run concurrently: a collector being drained is skipped."""
    keyed = CollectorPayloadKey.objects.all()
    if collector_id is not None:
        keyed = keyed.filter(collector_id=collector_id)
    totals = {"done": 0, "failed": 0, "skipped": 0}
    rows = keyed.order_by("collector_id").values_list("collector_id", "fingerprint", "previous_fingerprint")
    for cid, fingerprint, previous in rows:
        # A failed batch is tried again only with keys it has not been tried with.
        current = CollectorPayloadKey.keys_label(fingerprint, previous)
        candidates = QuarantinedBatch.objects.filter(collector_id=cid).filter(
            Q(status=QuarantineStatus.PENDING) | (Q(status=QuarantineStatus.FAILED) & ~Q(tried_keys=current))
        )
        if not candidates.exists():
            continue
        try:
            payload_keys_for(cid)
        except (SealingUnavailable, SealedValueUnreadable) as exc:  # nothing would open: leave them pending
            logger.error("telemetry.quarantine_drain.keys_unreadable", collector_id=cid, error_code=exc.error_code)
            totals["skipped"] += 1
            continue
        counts = _drain_collector(cid, candidates, limit)
        for outcome, n in counts.items():
            totals[outcome] += n
    return totals


def _drain_collector(collector_id: int, candidates, limit: int) -> dict[str, int]:
    from telemetry.services import telemetry_ingest_batch

    lock = advisory_lock_key(f"quarantine:{collector_id}")
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [lock])
        (locked,) = cur.fetchone()
    if not locked:
        return {"skipped": 1}
    counts = {"done": 0, "failed": 0}
    try:
        for row in candidates.select_related("token__collector__site").order_by("received_at", "pk")[:limit]:
            principal = CollectorPrincipal(token=row.token, device_id=row.device_id)
            try:
                batch = telemetry_ingest_batch(
                    principal=principal,
                    body=bytes(row.body),
                    endpoint=row.endpoint,
                    mode=row.mode,
                    zone_code=row.zone_code,
                    received_at=row.received_at,
                    hold=False,
                )
            except DomainError as exc:
                # The key is gone or unreadable meanwhile: pending again. Anything else: it stays, with its reason.
                status = QuarantineStatus.PENDING if exc.error_code in KEY_TROUBLE else QuarantineStatus.FAILED
                _finish(row, status=status, reason=exc.error_code, detail=exc.message)
                counts["failed"] += 1
            else:
                _finish(row, status=QuarantineStatus.DONE, reason=row.reason, detail="", batch=batch)
                counts["done"] += 1
    finally:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", [lock])
    for outcome, n in counts.items():
        metrics.quarantine_drained_total.labels(outcome).inc(n)
    if any(counts.values()):
        collector = Collector.objects.select_related("site").get(pk=collector_id)
        audit_record(
            actor=Actor.system("telemetry.quarantine_drain"),
            action="telemetry.quarantine.drained",
            entity=collector,
            payload={"site": collector.site.code, "collector": collector.name, **counts},
            site_code=collector.site.code,
        )
    return counts


def _finish(row: QuarantinedBatch, *, status: str, reason: str, detail: str, batch=None) -> None:
    key = CollectorPayloadKey.objects.filter(collector_id=row.collector_id).first()
    # Ingested: the receipt and the tiers hold what mattered; the body's digest and size stay.
    emptied = {"body": b""} if status == QuarantineStatus.DONE else {}
    QuarantinedBatch.objects.filter(pk=row.pk).update(
        **emptied,
        status=status,
        reason=reason,
        detail=detail[:255],
        attempts=row.attempts + 1,
        tried_keys=CollectorPayloadKey.keys_label(key.fingerprint, key.previous_fingerprint) if key else "",
        processed_at=timezone.now(),
        ingest_batch=batch,
    )


@transaction.atomic
def quarantine_discard(*, actor: Actor, batches) -> int:
    """Give up held batches (an altered body, a key nobody has any more), audited per collector
    with their digests. Ingested ones are left alone: retention removes them with their receipts."""
    # Locked: a drain finishing one of them now must not have it counted as discarded too.
    rows = list(
        QuarantinedBatch.objects.select_for_update()
        .filter(OPEN, pk__in=[b.pk for b in batches])
        .select_related("collector__site")
        .order_by("pk")
    )
    by_collector: dict[int, list[QuarantinedBatch]] = {}
    for row in rows:
        by_collector.setdefault(row.collector_id, []).append(row)
    for held in by_collector.values():
        collector = held[0].collector
        audit_record(
            actor=actor,
            action="telemetry.quarantine.discarded",
            entity=collector,
            payload={
                "site": collector.site.code,
                "collector": collector.name,
                "batches": [{"id": r.pk, "sha256": r.body_sha256, "reason": r.reason} for r in held],
            },
            site_code=collector.site.code,
        )
    QuarantinedBatch.objects.filter(pk__in=[r.pk for r in rows]).delete()
    return len(rows)
