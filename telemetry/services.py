"""Writes to the telemetry tiers. The HTTP views, the simulator and the benches all store uploads
through telemetry_ingest_batch."""

import datetime as dt
import hashlib
import time
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db import IntegrityError, ProgrammingError, transaction
from django.utils import timezone

from audit.services import Actor, EventSpec, audit_record_many
from core.gc import gc_paused
from core.sealing import SealedValueUnreadable, SealingUnavailable
from core.wire import decode_body
from telemetry import metrics, partitions
from telemetry.ingest.decode import upload_shape
from telemetry.ingest.encrypted import PayloadDecryptFailed, sealed_open
from telemetry.ingest.errors import EnvelopeSiteMismatch, PayloadKeyMissing
from telemetry.ingest.owners import miners_resolve, owners_at
from telemetry.ingest.sql import ingest_rows
from telemetry.ingest.validate import RecordError, validate_records
from telemetry.models import IngestBatch, QuarantinedBatch
from telemetry.payload_keys import payload_keys_for
from telemetry.quarantine import quarantine_hold
from tenants.site_identity import site_matches

ENDPOINTS = ("legacy", "v1")
# A 1-minute bucket is closed once its end is this far in the past; late data then corrects it.
BUCKET_GRACE = dt.timedelta(minutes=2)


def _partitions_ensure(days: set[dt.date]) -> None:
    """Create the raw/1m partitions of the upload's days (cached per process), outside the write
    transaction: partition DDL locks the parent table, which must not wait inside an upload."""
    for day in sorted(days):
        for table in ("telemetry_raw", "telemetry_1m"):
            try:
                partitions.ensure_partition(table, day)
            except (IntegrityError, ProgrammingError):
                # Another process created it between the existence check and CREATE: it exists now.
                partitions.ensure_partition(table, day)


def telemetry_ingest_batch(
    *,
    principal,
    body: bytes,
    endpoint: str,
    mode: str = "",
    zone_code: str = "",
    received_at: dt.datetime | None = None,
    hold: bool = True,
) -> IngestBatch | QuarantinedBatch:
    """Store one collector upload in the live, raw and 1-minute tiers and leave its receipt.

    `principal` is the authenticated tenants.collector_auth.CollectorPrincipal; `body` the bytes as
    sent (gzip or not). Whole-request problems raise (PayloadTooLarge, MalformedBody,
    InvalidShape, EnvelopeSiteMismatch, the PAYLOAD_* refusals of telemetry.ingest.encrypted) and
    store nothing. Otherwise every record is accepted (newly stored), rejected (with a reason) or
    a duplicate (already stored, or repeated within the upload), and the returned receipt says
    how many of each; its `first_reasons` are the first 20 rejections.

    An encrypted envelope is opened with the collector's payload key first. One that no
    registered key opens (none yet, or another key) is held as received and the
    QuarantinedBatch is returned (telemetry.quarantine) — or, with hold=False (the quarantine
    drain itself), PayloadKeyMissing / PayloadDecryptFailed is raised.
    """
    with gc_paused():  # the records are freed when _ingest_batch returns, before the collector runs again
        return _ingest_batch(principal, body, endpoint, mode, zone_code, received_at, hold)


_UNKNOWN = RecordError("UNKNOWN_MINER", "miner_id", "miner is not registered at this site")
_CAPPED = RecordError(
    "MINER_REGISTRATION_LIMIT",
    "miner_id",
    "unknown miner not registered: the site's limit of registrations on first sight is reached",
)


def _ingest_batch(
    principal, body: bytes, endpoint: str, mode: str, zone_code: str, received_at: dt.datetime | None, hold: bool
) -> IngestBatch | QuarantinedBatch:
    started = time.perf_counter()
    now = received_at or timezone.now()
    collector, token = principal.collector, principal.token
    site = collector.site
    upload = upload_shape(decode_body(body, max_decompressed=settings.TELEMETRY_MAX_DECOMPRESSED_BYTES))
    if upload.site_code and not site_matches(site, upload.site_code):
        raise EnvelopeSiteMismatch(f"envelope site_id {upload.site_code!r} is not the token's site")
    if upload.sealed is not None:
        keys: list[tuple[str, bytes]] = []
        try:
            keys = payload_keys_for(collector.pk)  # a KEK missing or changed: held like no key
            if not keys:
                raise PayloadKeyMissing("no payload key is registered for this collector yet")
            upload.records = sealed_open(upload.sealed, keys)[1]
        except (PayloadKeyMissing, PayloadDecryptFailed, SealingUnavailable, SealedValueUnreadable) as exc:
            if not hold:
                raise
            held_zone = zone_code or upload.envelope.get("zone_id")
            return quarantine_hold(
                principal=principal,
                body=body,
                endpoint=endpoint,
                mode=(mode or upload.mode)[:16],
                zone_code=held_zone if isinstance(held_zone, str) else "",
                now=now,
                reason=exc,
                tried_keys="+".join(fp for fp, _ in keys),
            )
    mode = (mode or upload.mode)[:16]
    envelope_zone = upload.envelope.get("zone_id")
    zone_code = zone_code or (envelope_zone if isinstance(envelope_zone, str) else "")  # "" means no zone
    device_id = principal.device_id[:128]

    checked = validate_records(
        upload.records,
        now=now,
        max_future_sec=settings.TELEMETRY_MAX_FUTURE_SEC,
        retention_days=settings.TELEMETRY_RAW_RETENTION_DAYS,
    )
    rows = checked.rows
    registered: list[str] = []
    registration_refused = 0
    if rows:
        actor = Actor.collector(collector, device_id)
        miners, registered, refused = miners_resolve(
            site=site, rows=rows, actor=actor, zone_code=zone_code, collector_zone=collector.zone
        )
        unknown = [r for r in rows if r["miner"] not in miners]
        for row in unknown:  # past the registration cap, or no operator tenant exists to own them
            checked.reject(row["index"], row["miner"], _CAPPED if row["miner"] in refused else _UNKNOWN)
        registration_refused = sum(r["miner"] in refused for r in unknown)
        if unknown:
            rows = [r for r in rows if r["miner"] in miners]
    sample_from = min((r["ts"] for r in rows), default=None)
    sample_to = max((r["ts"] for r in rows), default=None)
    if rows:
        _partitions_ensure({r["ts"].date() for r in rows})

    with transaction.atomic():
        stored: dict[str, Any] = {"batch_id": None, "inserted": 0, "corrected": []}
        if rows:
            assert sample_from is not None  # rows are not empty
            stored = ingest_rows(
                site_id=site.pk,
                rows=rows,
                miner_pks=[miners[r["miner"]][0] for r in rows],
                tenants=owners_at(site=site, miners=miners, rows=rows, since=sample_from),
                now=now,
                closed_before=now - BUCKET_GRACE - dt.timedelta(minutes=1),
                device_id=device_id,
                mode=mode,
            )
        received = len(upload.records)
        batch = IngestBatch(
            site=site,
            collector=collector,
            token_prefix=token.prefix,
            device_id=device_id,
            endpoint=endpoint,
            mode=mode,
            body_format=upload.body_format,
            received_at=now,
            body_sha256=hashlib.sha256(body).hexdigest(),
            body_bytes=len(body),
            record_count=received,
            accepted=stored["inserted"],
            rejected=checked.rejected,
            duplicates=received - checked.rejected - stored["inserted"],
            unknown_registered=len(registered),
            registration_refused=registration_refused,
            first_reasons=checked.reasons,
            rejected_codes=checked.codes,
            sample_from=sample_from,
            sample_to=sample_to,
        )
        if stored["batch_id"] is not None:
            batch.pk = stored["batch_id"]  # allocated by the ingest statement: raw rows point at it
        batch.duration_ms = round((time.perf_counter() - started) * 1000)
        batch.save(force_insert=True)
        if stored["corrected"]:
            _corrections_audit(batch=batch, principal=principal, corrected=stored["corrected"])

    metrics.ingest_observe(batch=batch, site_code=site.code, newest=sample_to)
    return batch


def _corrections_audit(*, batch: IngestBatch, principal, corrected: list[tuple]) -> None:
    """Late data reached closed 1-minute buckets: one event per upload (per tenant chain, so a
    customer's evidence never lists another customer's buckets)."""
    by_tenant = defaultdict(list)
    for tenant_id, miner_id, bucket, revision in corrected:
        by_tenant[tenant_id].append({"miner": miner_id, "bucket": bucket, "revision": revision})
    site = batch.site
    audit_record_many(
        actor=Actor.collector(principal.collector, batch.device_id),
        events=[
            EventSpec(
                "telemetry.bucket.corrected",
                "telemetry.ingestbatch",
                str(batch.pk),
                {"tier": "1m", "site": site.code, "batch_id": batch.pk, "count": len(buckets), "buckets": buckets},
                tenant_id=tenant_id,
                site_code=site.code,
            )
            for tenant_id, buckets in sorted(by_tenant.items())
        ],
    )
