"""Daily partitions of telemetry_raw and telemetry_1m: created ahead, dropped whole by age."""

import datetime as dt

import pytest
from django.db import connection, transaction

from telemetry import partitions
from telemetry.partitions import (
    ensure_partition,
    partition_name,
    partitions_maintain,
    partitions_of,
)
from telemetry.tests.tier_rows import drop_day_partitions, insert_1m

pytestmark = pytest.mark.django_db

TODAY = dt.date(2030, 6, 10)  # RAW 3 days, 1M 45 days (the defaults)


def days_of(table):
    return [day for _, day in partitions_of(table)]


def insert_raw(site_id, tenant_id, miner_id, ts):
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO telemetry_raw (site_id, miner_id, ts, tenant_id, received_at, batch_id, online) "
            "VALUES (%s, %s, %s, %s, %s, 0, true)",
            [site_id, miner_id, ts, tenant_id, ts],
        )


def count(table, **where):
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT count(*) FROM {table} WHERE " + " AND ".join(f"{c} = %s" for c in where), list(where.values())
        )
        return cur.fetchone()[0]


def midnight(day, hours=0):
    return dt.datetime.combine(day, dt.time(hours), tzinfo=dt.UTC)


def test_maintain_creates_every_retained_day_and_the_days_ahead(settings):
    drop_day_partitions()
    settings.TELEMETRY_PARTITIONS_AHEAD_DAYS = 2
    report = partitions_maintain(today=TODAY)

    raw_days = [TODAY + dt.timedelta(days=n) for n in range(-3, 3)]
    assert set(raw_days) <= set(days_of("telemetry_raw"))
    assert TODAY + dt.timedelta(days=3) not in days_of("telemetry_raw")
    assert {TODAY - dt.timedelta(days=45), TODAY + dt.timedelta(days=2)} <= set(days_of("telemetry_1m"))
    assert partition_name("telemetry_raw", TODAY + dt.timedelta(days=2)) in report["created"]
    assert report["dropped"] == [] and report["skipped"] == []
    assert partitions_maintain(today=TODAY)["created"] == []  # safe to run twice


def test_a_row_in_an_expired_partition_is_gone_and_one_in_a_kept_partition_stays(world):
    drop_day_partitions()
    miner = world.miners_a_x[0]
    expired_raw, kept_raw = TODAY - dt.timedelta(days=4), TODAY - dt.timedelta(days=3)
    expired_1m, kept_1m = TODAY - dt.timedelta(days=46), TODAY - dt.timedelta(days=45)
    for day in (expired_raw, kept_raw):
        ensure_partition("telemetry_raw", day)
        insert_raw(miner.site_id, miner.tenant_id, miner.pk, midnight(day, 23))
    for day in (expired_1m, kept_1m):
        insert_1m(miner.site_id, miner.tenant_id, miner.pk, midnight(day, 12))

    report = partitions_maintain(today=TODAY)

    assert sorted(report["dropped"]) == sorted(
        [partition_name("telemetry_raw", expired_raw), partition_name("telemetry_1m", expired_1m)]
    )
    assert count("telemetry_raw", miner_id=miner.pk) == 1 and count("telemetry_1m", miner_id=miner.pk) == 1
    assert expired_raw not in days_of("telemetry_raw") and kept_raw in days_of("telemetry_raw")
    assert expired_1m not in days_of("telemetry_1m") and kept_1m in days_of("telemetry_1m")
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", [partition_name("telemetry_raw", expired_raw)])
        assert cur.fetchone()[0] is None


def test_a_partition_that_is_not_a_day_is_left_alone():
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TABLE telemetry_raw_archive PARTITION OF telemetry_raw FOR VALUES FROM ('2001-01-01') TO ('2001-02-01')"
        )
    report = partitions_maintain(today=TODAY)
    assert "telemetry_raw_archive" not in report["dropped"]
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass('telemetry_raw_archive')")
        assert cur.fetchone()[0] is not None


def test_a_partition_created_in_a_rolled_back_transaction_is_created_again(django_capture_on_commit_callbacks):
    day = TODAY + dt.timedelta(days=30)
    name = partition_name("telemetry_1m", day)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            assert ensure_partition("telemetry_1m", day) is True
            raise RuntimeError("the caller's transaction fails after creating the partition")
    assert name not in partitions._known
    with django_capture_on_commit_callbacks(execute=True):
        assert ensure_partition("telemetry_1m", day) is True
    assert name in partitions._known
    partitions._known.discard(name)  # the test transaction rolls the table back


def test_maintain_gives_up_on_a_busy_parent_and_reports_the_skip(monkeypatch, settings):
    """CREATE … PARTITION OF and DROP lock the parent: behind a long query they would make every
    ingest queue behind them, so maintenance gives up after the lock timeout (next run retries).
    A scratch table stands in for a tier: its state must be committed for the other session."""
    import psycopg2

    settings.TELEMETRY_RAW_RETENTION_DAYS = 3
    settings.TELEMETRY_PARTITIONS_AHEAD_DAYS = 0
    db = connection.settings_dict
    other = psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"], password=db["PASSWORD"]
    )
    expired = partition_name("scratch_tier", TODAY - dt.timedelta(days=10))
    try:
        with other, other.cursor() as cur:
            cur.execute("CREATE TABLE scratch_tier (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)")
            cur.execute(
                f"CREATE TABLE {expired} PARTITION OF scratch_tier FOR VALUES FROM ('2030-05-31') TO ('2030-06-01')"
            )
        with other.cursor() as cur:  # a long query holds the parent (and its partitions)
            cur.execute("LOCK TABLE scratch_tier IN ACCESS SHARE MODE")
        monkeypatch.setattr(partitions, "PARTITIONED", {"scratch_tier": "TELEMETRY_RAW_RETENTION_DAYS"})
        monkeypatch.setattr(partitions, "MAINTENANCE_LOCK_TIMEOUT", "200ms")

        report = partitions_maintain(today=TODAY)

        assert expired in report["skipped"] and report["dropped"] == []
        assert partition_name("scratch_tier", TODAY) in report["skipped"] and report["created"] == []
        assert [name for name, _ in partitions_of("scratch_tier")] == [expired]
    finally:
        other.rollback()
        with other, other.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS scratch_tier")
        other.close()
