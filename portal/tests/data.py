"""Telemetry for the portal tests, written straight to the tiers (the pages read; ingest is
tested elsewhere). Live rows and receipts come from telemetry's own test helpers."""

import datetime as dt

from django.utils import timezone

from telemetry.models import Telemetry15m, TelemetryDaily
from telemetry.tests.live_rows import live, receipt
from telemetry.tests.tier_rows import insert_1m

__all__ = ["bucket_row", "daily_row", "insert_1m", "live", "quarter", "receipt"]


def _aggregates(at: dt.datetime, *, hashrate: float, temp: float, samples: int = 90) -> dict:
    return {
        "samples": samples,
        "online_samples": samples,
        "hashrate_5s_sum": hashrate * samples,
        "hashrate_5s_count": samples,
        "hashrate_5s_max": hashrate,
        "temperature_max_max": temp,
        "temperature_max_sum": temp * samples,
        "temperature_max_count": samples,
        "frequency_sum": 0.0,
        "frequency_count": 0,
        "first_ts": at,
        "last_ts": at,
        "updated_at": timezone.now(),
    }


def quarter(when: dt.datetime) -> dt.datetime:
    return when.replace(minute=when.minute - when.minute % 15, second=0, microsecond=0)


def bucket_row(miner, bucket: dt.datetime, *, hashrate: float = 100_000.0, temp: float = 70.0, tenant=None):
    """A 15m bucket of `miner` whose samples all read `hashrate` GH/s and `temp` °C."""
    return Telemetry15m.objects.create(
        site_id=miner.site_id,
        tenant_id=(tenant or miner.tenant).pk,
        miner_id=miner.pk,
        bucket=bucket,
        **_aggregates(bucket, hashrate=hashrate, temp=temp),
    )


def daily_row(miner, day: dt.date, *, hashrate: float = 100_000.0, temp: float = 70.0):
    at = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return TelemetryDaily.objects.create(
        site_id=miner.site_id,
        tenant_id=miner.tenant_id,
        miner_id=miner.pk,
        day=day,
        **_aggregates(at, hashrate=hashrate, temp=temp),
    )
