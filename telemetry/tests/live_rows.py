"""Live rows, upload receipts and raw samples written straight through the ORM, for the read-side
tests (they must not depend on the ingest path)."""

import datetime as dt
import hashlib

from django.utils import timezone

from telemetry.models import IngestBatch, TelemetryLive, TelemetryRaw
from telemetry.partitions import ensure_partition


def live(
    miner,
    *,
    age_sec: float = 10,
    online: bool = True,
    hashrate: float | None = 100.0,
    temp: float | None = 70.0,
    now=None,
    tenant=None,
):
    now = now or timezone.now()
    ts = now - dt.timedelta(seconds=age_sec)
    return TelemetryLive.objects.update_or_create(
        miner=miner,
        defaults={
            "site_id": miner.site_id,
            "tenant_id": (tenant or miner.tenant).pk,
            "ts": ts,
            "received_at": ts,
            "online": online,
            "hashrate_5s_ghs": hashrate,
            "hashrate_ghs": hashrate,
            "temperature_max": temp,
            "fan_speeds": [5000, 5100],
        },
    )[0]


def receipt(
    collector, *, age_sec: float = 10, accepted=10, rejected=0, duplicates=0, reasons=(), rejected_codes=None, now=None
) -> IngestBatch:
    """An upload receipt: the collector uploaded `age_sec` ago."""
    now = now or timezone.now()
    return IngestBatch.objects.create(
        site_id=collector.site_id,
        collector=collector,
        token_prefix="hik_test",
        device_id="edge-1",
        endpoint="v1",
        mode="raw",
        body_format="envelope",
        received_at=now - dt.timedelta(seconds=age_sec),
        body_sha256=hashlib.sha256(f"{collector.pk}{now}{age_sec}".encode()).hexdigest(),
        body_bytes=1000,
        record_count=accepted + rejected + duplicates,
        accepted=accepted,
        rejected=rejected,
        duplicates=duplicates,
        first_reasons=list(reasons),
        rejected_codes=rejected_codes or {},
    )


def raw(miner, ts: dt.datetime, *, batch_id: int = 0, online=True, hashrate=100.0, temp=70.0, tenant=None) -> None:
    ensure_partition("telemetry_raw", ts.astimezone(dt.UTC).date())
    TelemetryRaw.objects.create(
        site_id=miner.site_id,
        miner_id=miner.pk,
        ts=ts,
        tenant_id=(tenant or miner.tenant).pk,
        received_at=ts,
        batch_id=batch_id,
        online=online,
        hashrate_5s_ghs=hashrate,
        temperature_max=temp,
    )
