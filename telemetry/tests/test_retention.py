"""Retention of the telemetry tiers and ingest receipts; the hourly beat job."""

import datetime as dt

import pytest
import time_machine
from django.db import connection

from audit.models import AuditEvent
from telemetry import retention
from telemetry.models import IngestBatch
from telemetry.partitions import ensure_partition, partition_name
from telemetry.retention import telemetry_retention_purge
from telemetry.tasks import telemetry_retention_task
from telemetry.tests.tier_rows import drop_day_partitions, insert_1m, insert_rollup_row

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2030, 6, 10, 9, 30, tzinfo=dt.UTC)
TODAY = NOW.date()


def ago(days, hours=0):
    return dt.datetime.combine(TODAY - dt.timedelta(days=days), dt.time(hours), tzinfo=dt.UTC)


def keys(table, key):
    with connection.cursor() as cur:
        cur.execute(f"SELECT miner_id, {key} FROM {table} ORDER BY miner_id, {key}")
        return cur.fetchall()


def receipt(collector, received_at):
    return IngestBatch.objects.create(
        site=collector.site,
        collector=collector,
        token_prefix="hi_x",
        endpoint="v1",
        body_format="envelope",
        received_at=received_at,
        body_sha256="0" * 64,
        body_bytes=10,
        record_count=1,
        accepted=1,
        rejected=0,
        duplicates=0,
    )


def purged_events():
    return list(AuditEvent.objects.filter(action="telemetry.retention.purged").order_by("seq"))


def test_15m_and_daily_rows_past_their_retention_are_deleted_in_batches(world, monkeypatch):
    monkeypatch.setattr(retention, "MINERS_PER_DELETE", 2)  # several miner chunks, several batches each
    site, tenant = world.site_x.pk, world.tenant_a.pk
    miners = [m.pk for m in world.miners_a_x] + [999_999]  # the last one is no longer in the inventory
    for miner in miners:
        for days in (731, 730.9, 730.5):  # expired: before 00:00 of today - 730 days
            insert_rollup_row("telemetry_15m", "bucket", site, tenant, miner, ago(0) - dt.timedelta(days=days))
        insert_rollup_row(
            "telemetry_15m", "bucket", site, tenant, miner, ago(730)
        )  # kept: the first bucket of that day
        insert_rollup_row("telemetry_daily", "day", site, tenant, miner, (ago(2556)).date())
        insert_rollup_row("telemetry_daily", "day", site, tenant, miner, (ago(2555)).date())

    report = telemetry_retention_purge(now=NOW, batch_size=2)

    assert report["rows_deleted"]["telemetry_15m"] == 3 * len(miners)
    assert report["rows_deleted"]["telemetry_daily"] == len(miners)
    assert keys("telemetry_15m", "bucket") == [(m, ago(730)) for m in sorted(miners)]
    assert keys("telemetry_daily", "day") == [(m, ago(2555).date()) for m in sorted(miners)]


def test_receipts_are_kept_as_long_as_the_1m_tier(world):
    old = [receipt(world.collector_x, ago(45) - dt.timedelta(seconds=s)) for s in (1, 60, 3600)]
    kept = [receipt(world.collector_x, ago(45)), receipt(world.collector_y, NOW)]

    report = telemetry_retention_purge(now=NOW, batch_size=2)

    assert report["rows_deleted"]["telemetry_ingestbatch"] == len(old)
    assert sorted(IngestBatch.objects.values_list("pk", flat=True)) == sorted(r.pk for r in kept)


def test_each_run_writes_one_platform_event_with_the_counts(world):
    drop_day_partitions()
    miner = world.miners_a_x[0]
    ensure_partition("telemetry_raw", TODAY - dt.timedelta(days=5))
    insert_1m(miner.site_id, miner.tenant_id, miner.pk, ago(50, 3))
    insert_rollup_row("telemetry_15m", "bucket", miner.site_id, miner.tenant_id, miner.pk, ago(800))
    receipt(world.collector_x, ago(60))

    telemetry_retention_purge(now=NOW)
    telemetry_retention_purge(now=NOW)

    first, second = purged_events()
    assert first.chain_key == second.chain_key == "platform"
    assert (first.actor_type, first.actor_id) == ("system", "telemetry.retention")
    assert sorted(first.payload["partitions_dropped"]) == sorted(
        [
            partition_name("telemetry_raw", TODAY - dt.timedelta(days=5)),
            partition_name("telemetry_1m", TODAY - dt.timedelta(days=50)),
        ]
    )
    assert first.payload["rows_deleted"] == {
        "telemetry_15m": 1,
        "telemetry_daily": 0,
        "telemetry_quarantinedbatch": 0,
        "telemetry_ingestbatch": 1,
    }
    assert first.payload["cutoffs"]["telemetry_1m"] == ago(45).isoformat()
    assert second.payload["partitions_dropped"] == [] and second.payload["partitions_created"] == 0
    assert second.payload["rows_deleted"] == {
        "telemetry_15m": 0,
        "telemetry_daily": 0,
        "telemetry_quarantinedbatch": 0,
        "telemetry_ingestbatch": 0,
    }


def test_the_beat_task_purges_once_per_interval(world):
    receipt(world.collector_x, ago(60))
    with time_machine.travel(NOW, tick=False):
        result = telemetry_retention_task.apply().get()
        receipt(world.collector_x, ago(60))
        skipped = telemetry_retention_task.apply().get()

    assert result["rows_deleted"]["telemetry_ingestbatch"] == 1
    assert skipped is None
    assert len(purged_events()) == 1 and IngestBatch.objects.count() == 1
