"""Rows of the telemetry tiers written straight with SQL, for the rollup and retention tests
(they must not depend on the ingest path)."""

import datetime as dt

from django.db import connection

from telemetry.partitions import PARTITIONED, ensure_partition, partitions_of

AGGREGATES = (
    "samples, online_samples, hashrate_5s_sum, hashrate_5s_count, hashrate_5s_max, temperature_max_max, "
    "temperature_max_sum, temperature_max_count, frequency_sum, frequency_count, first_ts, last_ts"
).split(", ")


def at(day: dt.date, hhmm: str, second: int = 0) -> dt.datetime:
    hour, minute = map(int, hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=dt.UTC)


def one_minute(bucket: dt.datetime, *, samples=6, online=5, hashrate=100.0, temp=70.0, freq=500.0) -> dict:
    """The aggregates of one 1m bucket whose online samples all read `hashrate`, `temp`, `freq`."""
    return {
        "samples": samples,
        "online_samples": online,
        "hashrate_5s_sum": hashrate * online,
        "hashrate_5s_count": online,
        "hashrate_5s_max": hashrate + 1,
        "temperature_max_max": temp + 2,
        "temperature_max_sum": temp * online,
        "temperature_max_count": online,
        "frequency_sum": freq * online,
        "frequency_count": online,
        "first_ts": bucket + dt.timedelta(seconds=5),
        "last_ts": bucket + dt.timedelta(seconds=55),
    }


def insert_1m(site_id, tenant_id, miner_id, bucket, *, updated_at=None, **values) -> dict:
    ensure_partition("telemetry_1m", bucket.date())
    row = one_minute(bucket, **values)
    upsert_1m(site_id, tenant_id, miner_id, bucket, updated_at=updated_at or bucket + dt.timedelta(seconds=70), **row)
    return row


def upsert_1m(site_id, tenant_id, miner_id, bucket, *, updated_at, **row) -> None:
    """Write a 1m row as the ingest path does: insert, or replace the values and set updated_at."""
    columns = ["site_id", "tenant_id", "miner_id", "bucket", *AGGREGATES, "updated_at"]
    values = [site_id, tenant_id, miner_id, bucket, *(row[c] for c in AGGREGATES), updated_at]
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in [*AGGREGATES, "updated_at"])
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO telemetry_1m ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
            f"ON CONFLICT (site_id, tenant_id, miner_id, bucket) DO UPDATE SET {sets}",
            values,
        )


def fetch(table: str, key: str, **where) -> list[dict]:
    """Rows of a rollup tier as dicts, ordered by key."""
    conditions = " AND ".join(f"{c} = %s" for c in where) or "true"
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT * FROM {table} WHERE {conditions} ORDER BY site_id, tenant_id, miner_id, {key}",
            list(where.values()),
        )
        names = [c.name for c in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def insert_rollup_row(table: str, key: str, site_id, tenant_id, miner_id, value) -> None:
    """A 15m or daily row with placeholder aggregates (for retention tests)."""
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {table} (site_id, tenant_id, miner_id, {key}, samples, online_samples, hashrate_5s_sum, "
            f"hashrate_5s_count, temperature_max_sum, temperature_max_count, frequency_sum, frequency_count, first_ts, "
            f"last_ts, revision, corrected, updated_at) VALUES (%s, %s, %s, %s, 1, 1, 1, 1, 1, 1, 1, 1, now(), now(), 0, false, now())",
            [site_id, tenant_id, miner_id, value],
        )


def drop_day_partitions() -> None:
    """Drop every day partition of the tiers, inside the test's transaction (rolled back with it): a test
    that counts what maintenance creates or drops starts from a migrated database's none. Committed
    partitions that earlier tests left stay otherwise: those of a transactional test that ran before,
    or of earlier runs on a kept test database (--reuse-db, as `make test-pgbouncer` runs)."""
    with connection.cursor() as cur:
        for table in PARTITIONED:
            for name, _ in partitions_of(table):
                cur.execute(f"DROP TABLE {name}")
