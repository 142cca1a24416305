"""The one statement that stores an upload in every tier written at ingest.

raw: insert-or-ignore on (site, miner, ts); only the rows it actually inserted (RETURNING) feed
the 1-minute upsert and the live row, so a replay — byte-identical or overlapping — adds nothing
and no aggregate drifts. The rows travel by COPY into a per-connection temporary staging table
(built column by column in Python), which the statement reads: measured on 5,000 records, COPY
plus the staging read costs about a third of one JSON document read by json_to_recordset, and
bulk_create is an order slower again (docs/ARCHITECTURE.md, "Telemetry ingest").

Every write is ordered by its key, so two uploads of overlapping data (two collectors of one
site) take their row locks in the same order: the later one waits, it never deadlocks.
"""

import datetime as dt
import io
from operator import itemgetter
from typing import Any

import orjson
from django.db import connection

SAMPLE_COLUMNS = (
    "online",
    "hashrate_ghs",
    "hashrate_5s_ghs",
    "temperature_avg",
    "temperature_max",
    "frequency_avg",
    "fan_speeds",
    "temperature_chips",
    "accepted_shares",
    "rejected_shares",
    "hardware_errors",
    "uptime_seconds",
    "pool_url",
    "worker_name",
    "error_message",
)
_RECORDSET = (
    "miner_id bigint, ts timestamptz, tenant_id bigint, online boolean, hashrate_ghs float8, hashrate_5s_ghs float8, "
    "temperature_avg float8, temperature_max float8, frequency_avg float8, fan_speeds integer[], "
    "temperature_chips float8[], accepted_shares bigint, rejected_shares bigint, hardware_errors bigint, "
    "uptime_seconds bigint, pool_url text, worker_name text, error_message text"
)
_SAMPLES = ", ".join(SAMPLE_COLUMNS)
STAGE = "telemetry_ingest_stage"
STAGE_COLUMNS = ("miner_id", "ts", "tenant_id", *SAMPLE_COLUMNS)
# A temporary table lives as long as the connection (CONN_MAX_AGE) and is private to it; ON COMMIT
# DELETE ROWS empties it at every commit, the DELETE covers several uploads in one transaction
# (tests, scripts). Both statements run on every upload, in its transaction, so this holds even
# behind a transaction-pooling proxy.
_STAGE_CREATE = f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} ({_RECORDSET}) ON COMMIT DELETE ROWS"
_STAGE_CLEAR = f"DELETE FROM {STAGE}"
_STAGE_COPY = f"COPY {STAGE} ({', '.join(STAGE_COLUMNS)}) FROM STDIN"
_LIVE_SET = ", ".join(f"{c} = EXCLUDED.{c}" for c in SAMPLE_COLUMNS if c not in ("pool_url", "worker_name"))

# Aggregates describe online samples (an offline record carries zeros, not measurements);
# hashrate uses hashrate_5s_ghs (current), thermal figures temperature_max (SPEC §5).
INGEST_SQL = f"""
WITH bid AS (SELECT nextval(pg_get_serial_sequence('telemetry_ingestbatch', 'id')) AS id),
src AS (SELECT * FROM {STAGE}),
ins AS (
    INSERT INTO telemetry_raw (site_id, miner_id, ts, tenant_id, received_at, batch_id, device_id, mode, {_SAMPLES})
    SELECT %(site)s, miner_id, ts, tenant_id, %(now)s, (SELECT id FROM bid), %(device)s, %(mode)s, {_SAMPLES}
    FROM src ORDER BY miner_id, ts
    ON CONFLICT (site_id, miner_id, ts) DO NOTHING
    RETURNING miner_id, ts, tenant_id, {_SAMPLES}
),
agg AS (
    SELECT tenant_id, miner_id, date_trunc('minute', ts) AS bucket,
        count(*) AS samples,
        count(*) FILTER (WHERE online) AS online_samples,
        coalesce(sum(hashrate_5s_ghs) FILTER (WHERE online), 0) AS hashrate_5s_sum,
        count(hashrate_5s_ghs) FILTER (WHERE online) AS hashrate_5s_count,
        max(hashrate_5s_ghs) FILTER (WHERE online) AS hashrate_5s_max,
        max(temperature_max) FILTER (WHERE online) AS temperature_max_max,
        coalesce(sum(temperature_max) FILTER (WHERE online), 0) AS temperature_max_sum,
        count(temperature_max) FILTER (WHERE online) AS temperature_max_count,
        coalesce(sum(frequency_avg) FILTER (WHERE online), 0) AS frequency_sum,
        count(frequency_avg) FILTER (WHERE online) AS frequency_count,
        min(ts) AS first_ts, max(ts) AS last_ts
    FROM ins GROUP BY tenant_id, miner_id, date_trunc('minute', ts)
),
m1 AS (
    INSERT INTO telemetry_1m AS t (site_id, tenant_id, miner_id, bucket, samples, online_samples, hashrate_5s_sum,
        hashrate_5s_count, hashrate_5s_max, temperature_max_max, temperature_max_sum, temperature_max_count,
        frequency_sum, frequency_count, first_ts, last_ts, revision, corrected, updated_at)
    SELECT %(site)s, tenant_id, miner_id, bucket, samples, online_samples, hashrate_5s_sum, hashrate_5s_count,
        hashrate_5s_max, temperature_max_max, temperature_max_sum, temperature_max_count, frequency_sum,
        frequency_count, first_ts, last_ts, 0, false, %(now)s
    FROM agg ORDER BY tenant_id, miner_id, bucket
    ON CONFLICT (site_id, tenant_id, miner_id, bucket) DO UPDATE SET
        samples = t.samples + EXCLUDED.samples,
        online_samples = t.online_samples + EXCLUDED.online_samples,
        hashrate_5s_sum = t.hashrate_5s_sum + EXCLUDED.hashrate_5s_sum,
        hashrate_5s_count = t.hashrate_5s_count + EXCLUDED.hashrate_5s_count,
        hashrate_5s_max = greatest(t.hashrate_5s_max, EXCLUDED.hashrate_5s_max),
        temperature_max_max = greatest(t.temperature_max_max, EXCLUDED.temperature_max_max),
        temperature_max_sum = t.temperature_max_sum + EXCLUDED.temperature_max_sum,
        temperature_max_count = t.temperature_max_count + EXCLUDED.temperature_max_count,
        frequency_sum = t.frequency_sum + EXCLUDED.frequency_sum,
        frequency_count = t.frequency_count + EXCLUDED.frequency_count,
        first_ts = least(t.first_ts, EXCLUDED.first_ts),
        last_ts = greatest(t.last_ts, EXCLUDED.last_ts),
        revision = t.revision + (t.bucket < %(closed_before)s)::int,
        corrected = t.corrected OR t.bucket < %(closed_before)s,
        updated_at = %(now)s
    RETURNING t.tenant_id, t.miner_id, t.bucket, t.revision
),
newest AS (SELECT DISTINCT ON (miner_id) * FROM ins ORDER BY miner_id, ts DESC),
live AS (
    INSERT INTO telemetry_live AS l (miner_id, site_id, tenant_id, ts, received_at, device_id, {_SAMPLES})
    SELECT miner_id, %(site)s, tenant_id, ts, %(now)s, %(device)s, {_SAMPLES}
    FROM newest ORDER BY miner_id
    ON CONFLICT (miner_id) DO UPDATE SET
        site_id = EXCLUDED.site_id, tenant_id = EXCLUDED.tenant_id, ts = EXCLUDED.ts,
        received_at = EXCLUDED.received_at, device_id = EXCLUDED.device_id, {_LIVE_SET},
        -- latest cycles send "": keep the last known pool and worker
        pool_url = coalesce(nullif(EXCLUDED.pool_url, ''), l.pool_url),
        worker_name = coalesce(nullif(EXCLUDED.worker_name, ''), l.worker_name)
    WHERE l.ts < EXCLUDED.ts
    RETURNING l.miner_id
)
SELECT (SELECT id FROM bid),
    (SELECT count(*) FROM ins),
    (SELECT count(*) FROM m1),
    (SELECT count(*) FROM live),
    (SELECT coalesce(json_agg(json_build_array(tenant_id, miner_id, bucket, revision) \
ORDER BY tenant_id, miner_id, bucket), '[]')
     FROM m1 WHERE bucket < %(closed_before)s AND revision > 0)
"""


_NULL = "\\N"
_BOOL = {True: "t", False: "f"}.__getitem__
_TEXT_SPECIALS = ("\\", "\t", "\n", "\r")
_FLOAT_ARRAYS = ("temperature_chips",)
_INT_ARRAYS = ("fan_speeds",)
_TEXTS = ("pool_url", "worker_name", "error_message")


def _copy_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _json_fields(values: list, *, arrays: bool) -> list[str] | None:
    """A column of numbers (or of lists of numbers) as COPY fields through one orjson call: the
    JSON array's elements are split back out (a number never contains a comma; lists become
    PostgreSQL array literals). None where orjson refuses a value (an integer beyond 64 bits)."""
    try:
        text = orjson.dumps(values).decode()
    except orjson.JSONEncodeError:
        return None
    if not values:
        return []
    if arrays:
        inner = text[2:-2]  # [[1,2],[],[3]] → "1,2],[],[3"
        return ["{" + part + "}" for part in inner.split("],[")]
    fields = text[1:-1].split(",")
    if "null" in text:
        fields = [_NULL if f == "null" else f for f in fields]
    return fields


def _column(name: str, values: list) -> list[str]:
    """One column of validated rows as COPY text fields (validation has ruled out NaN, infinities,
    NUL and out-of-range numbers)."""
    if name == "online":
        return list(map(_BOOL, values))
    if name in _TEXTS:
        joined = "".join(values)
        if any(c in joined for c in _TEXT_SPECIALS):
            return list(map(_copy_escape, values))
        return values
    arrays = name in _FLOAT_ARRAYS or name in _INT_ARRAYS
    fields = _json_fields(values, arrays=arrays)
    if fields is not None:
        return fields
    if arrays:
        return ["{" + ",".join(map(repr, v)) + "}" for v in values]
    return [_NULL if v is None else repr(v) for v in values]  # float repr round-trips; int repr is its digits


def _timestamps(values: list) -> list[str]:
    if not values:
        return []
    return orjson.dumps(values).decode()[2:-2].split('","')  # RFC 3339 with the offset: one C call


def copy_payload(rows: list[dict], miner_pks: list[int], tenants: list[int]) -> str:
    """The rows in COPY text format, in STAGE_COLUMNS order: built a column at a time (a few C
    calls per column instead of a formatting call per value), then joined row by row."""
    columns = [
        list(map(str, miner_pks)),
        _timestamps(list(map(itemgetter("ts"), rows))),
        [_NULL if t is None else str(t) for t in tenants],
    ]
    for name in SAMPLE_COLUMNS:
        columns.append(_column(name, list(map(itemgetter(name), rows))))
    return "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"


def _copy(cur, sql: str, data: str) -> None:
    raw = cur.cursor
    if hasattr(raw, "copy_expert"):  # psycopg2
        raw.copy_expert(sql, io.StringIO(data), size=1 << 20)
    else:  # psycopg 3
        with raw.copy(sql) as copy:
            copy.write(data)


def ingest_rows(
    *,
    site_id: int,
    rows: list[dict],
    miner_pks: list[int],
    tenants: list[int],
    now: dt.datetime,
    closed_before: dt.datetime,
    device_id: str,
    mode: str,
) -> dict:
    """Run INGEST_SQL in the caller's transaction. Returns the batch id (allocated here, for the
    receipt to use), inserted count, and the closed buckets this upload corrected."""
    if not (len(rows) == len(miner_pks) == len(tenants)):
        raise ValueError("rows, miner_pks and tenants must be parallel lists")
    data = copy_payload(rows, miner_pks, tenants)
    params: dict[str, Any] = {
        "site": site_id,
        "now": now,
        "closed_before": closed_before,
        "device": device_id,
        "mode": mode,
    }
    with connection.cursor() as cur:
        cur.execute(_STAGE_CREATE)
        cur.execute(_STAGE_CLEAR)
        _copy(cur, _STAGE_COPY, data)
        cur.execute(INGEST_SQL, params)
        batch_id, inserted, buckets, live, corrected = cur.fetchone()
    return {
        "batch_id": batch_id,
        "inserted": inserted,
        "buckets": buckets,
        "live": live,
        "corrected": [(t, m, dt.datetime.fromisoformat(b), rev) for t, m, b, rev in corrected],
    }
