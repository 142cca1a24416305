"""The one statement that stores an upload in every tier written at ingest.

raw: insert-or-ignore on (site, miner, ts); only the rows it actually inserted (RETURNING) feed
the 1-minute upsert and the live row, so a replay — byte-identical or overlapping — adds nothing
and no aggregate drifts. The rows travel as one JSON document read by json_to_recordset: measured
on 5,000 records, as fast as unnest() over array literals, 3× faster than psycopg2's list
adaptation and ~13× faster than bulk_create (docs/ARCHITECTURE.md, "Telemetry ingest").

Every write is ordered by its key, so two uploads of overlapping data (two collectors of one
site) take their row locks in the same order: the later one waits, it never deadlocks.
"""

import datetime as dt

import orjson
from django.db import connection

SAMPLE_COLUMNS = (
    "online", "hashrate_ghs", "hashrate_5s_ghs", "temperature_avg", "temperature_max", "frequency_avg", "fan_speeds",
    "temperature_chips", "accepted_shares", "rejected_shares", "hardware_errors", "uptime_seconds", "pool_url",
    "worker_name", "error_message",
)  # fmt: skip
_RECORDSET = (
    "miner_id bigint, ts timestamptz, tenant_id bigint, online boolean, hashrate_ghs float8, hashrate_5s_ghs float8, "
    "temperature_avg float8, temperature_max float8, frequency_avg float8, fan_speeds integer[], "
    "temperature_chips float8[], accepted_shares bigint, rejected_shares bigint, hardware_errors bigint, "
    "uptime_seconds bigint, pool_url text, worker_name text, error_message text"
)
_SAMPLES = ", ".join(SAMPLE_COLUMNS)
_LIVE_SET = ", ".join(f"{c} = EXCLUDED.{c}" for c in SAMPLE_COLUMNS if c not in ("pool_url", "worker_name"))

# Aggregates describe online samples (an offline record carries zeros, not measurements);
# hashrate uses hashrate_5s_ghs (current), thermal figures temperature_max (SPEC §5).
INGEST_SQL = f"""
WITH bid AS (SELECT nextval(pg_get_serial_sequence('telemetry_ingestbatch', 'id')) AS id),
src AS (SELECT * FROM json_to_recordset(%(rows)s::json) AS r({_RECORDSET})),
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
    (SELECT coalesce(json_agg(json_build_array(tenant_id, miner_id, bucket, revision) ORDER BY tenant_id, miner_id, bucket), '[]')
     FROM m1 WHERE bucket < %(closed_before)s AND revision > 0)
"""


def _json_row(row: dict, pk: int, tenant: int) -> dict:
    out = {c: row[c] for c in SAMPLE_COLUMNS}
    out["miner_id"], out["ts"], out["tenant_id"] = pk, row["ts"], tenant
    return out


def ingest_rows(*, site_id: int, rows: list[dict], miner_pks: list[int], tenants: list[int], now: dt.datetime, closed_before: dt.datetime, device_id: str, mode: str) -> dict:
    """Run INGEST_SQL in the caller's transaction. Returns the batch id (allocated here, for the
    receipt to use), inserted count, and the closed buckets this upload corrected."""
    payload = orjson.dumps([_json_row(r, pk, t) for r, pk, t in zip(rows, miner_pks, tenants, strict=True)]).decode()
    params = {"rows": payload, "site": site_id, "now": now, "closed_before": closed_before, "device": device_id, "mode": mode}
    with connection.cursor() as cur:
        cur.execute(INGEST_SQL, params)
        batch_id, inserted, buckets, live, corrected = cur.fetchone()
    return {
        "batch_id": batch_id,
        "inserted": inserted,
        "buckets": buckets,
        "live": live,
        "corrected": [(t, m, dt.datetime.fromisoformat(b), rev) for t, m, b, rev in corrected],
    }
