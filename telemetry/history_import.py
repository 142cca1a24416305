"""History from another system into the raw and 1-minute tiers (the switch-over import,
manage.py import_original).

Samples go into telemetry_raw with ON CONFLICT (site, miner, ts) DO NOTHING: a re-run, or a
sample the collector also sent to this cloud, inserts nothing. The 1-minute buckets that got a
new sample are then recomputed from the raw tier (not added to), so the 1m rows equal what ingest
would have built and a re-run cannot drift them; a bucket that already existed and changes is a
correction (revision + 1, corrected). The 15-minute and daily tiers are the rollup job's
(telemetry.rollups), which the importer runs after the last batch.

Imported samples carry batch_id 0 (there is no upload receipt: they were never uploaded here),
mode "import" and device_id "import:<source>".
"""

import datetime as dt
from collections import Counter
from typing import Any

import orjson
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.utils import timezone

from telemetry import partitions
from telemetry.ingest.sql import SAMPLE_COLUMNS

IMPORT_BATCH_ID = 0
IMPORT_MODE = "import"
_TYPES = {
    "online": "boolean",
    "fan_speeds": "integer[]",
    "temperature_chips": "float8[]",
    "accepted_shares": "bigint",
    "rejected_shares": "bigint",
    "hardware_errors": "bigint",
    "uptime_seconds": "bigint",
    "pool_url": "text",
    "worker_name": "text",
    "error_message": "text",
}
_RECORD = ", ".join(
    ["site_id bigint", "miner_id bigint", "tenant_id bigint", "ts timestamptz"]
    + [f"{c} {_TYPES.get(c, 'float8')}" for c in SAMPLE_COLUMNS]
)
_SAMPLES = ", ".join(SAMPLE_COLUMNS)

_RAW_SQL = f"""
INSERT INTO telemetry_raw (site_id, miner_id, ts, tenant_id, received_at, batch_id, device_id, mode, {_SAMPLES})
SELECT site_id, miner_id, ts, tenant_id, %(now)s, {IMPORT_BATCH_ID}, %(device)s, '{IMPORT_MODE}', {_SAMPLES}
FROM json_to_recordset(%(rows)s::json) AS r({_RECORD})
ORDER BY site_id, miner_id, ts
ON CONFLICT (site_id, miner_id, ts) DO NOTHING
RETURNING site_id, miner_id, date_trunc('minute', ts)
"""

_AGG = (
    "samples, online_samples, hashrate_5s_sum, hashrate_5s_count, hashrate_5s_max, temperature_max_max, "
    "temperature_max_sum, temperature_max_count, frequency_sum, frequency_count, first_ts, last_ts"
).split(", ")
# The ingest statement's aggregates (telemetry.ingest.sql), over every raw row of the bucket, in
# time order so a recomputation gives bit-identical sums.
_1M_SQL = f"""
INSERT INTO telemetry_1m AS t (site_id, tenant_id, miner_id, bucket, {", ".join(_AGG)}, revision, corrected, updated_at)
SELECT r.site_id, r.tenant_id, r.miner_id, d.bucket,
    count(*), count(*) FILTER (WHERE r.online),
    coalesce(sum(r.hashrate_5s_ghs ORDER BY r.ts) FILTER (WHERE r.online), 0),
    count(r.hashrate_5s_ghs) FILTER (WHERE r.online),
    max(r.hashrate_5s_ghs) FILTER (WHERE r.online),
    max(r.temperature_max) FILTER (WHERE r.online),
    coalesce(sum(r.temperature_max ORDER BY r.ts) FILTER (WHERE r.online), 0),
    count(r.temperature_max) FILTER (WHERE r.online),
    coalesce(sum(r.frequency_avg ORDER BY r.ts) FILTER (WHERE r.online), 0),
    count(r.frequency_avg) FILTER (WHERE r.online),
    min(r.ts), max(r.ts), 0, false, %(now)s
FROM telemetry_raw r
CROSS JOIN LATERAL (SELECT date_trunc('minute', r.ts) AS bucket) d
-- The batch's time range prunes the partitions and bounds the scan; the semi-join keeps the buckets
-- that got a new sample (a join per bucket would probe every partition's index once per bucket).
WHERE r.site_id = ANY(%(site_ids)s) AND r.ts >= %(lo)s AND r.ts < %(hi)s
    AND (r.site_id, r.miner_id, d.bucket) IN (
        SELECT * FROM unnest(%(sites)s::bigint[], %(miners)s::bigint[], %(buckets)s::timestamptz[]))
GROUP BY r.site_id, r.tenant_id, r.miner_id, d.bucket
ORDER BY r.site_id, r.tenant_id, r.miner_id, d.bucket
ON CONFLICT (site_id, tenant_id, miner_id, bucket) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _AGG)},
    revision = t.revision + 1, corrected = true, updated_at = EXCLUDED.updated_at
WHERE ({", ".join(f"t.{c}" for c in _AGG)}) IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in _AGG)})
"""


def _row_json(row: dict) -> dict:
    out = {k: row.get(k) for k in ("site_id", "miner_id", "tenant_id")}
    out["ts"] = row["ts"].isoformat()
    for column in SAMPLE_COLUMNS:
        value = row.get(column)
        if column in ("fan_speeds", "temperature_chips"):
            value = list(value or [])
        elif column in ("pool_url", "worker_name", "error_message"):
            value = (value or "").replace("\x00", "")
        out[column] = value
    return out


def history_partitions_ensure(days: set[dt.date]) -> None:
    """The raw and 1m partitions of these days (call it outside the batch's transaction: the
    DDL locks the parent table)."""
    for day in sorted(days):
        for table in ("telemetry_raw", "telemetry_1m"):
            try:
                partitions.ensure_partition(table, day)
            except (IntegrityError, ProgrammingError):  # created by another process meanwhile
                partitions.ensure_partition(table, day)


@transaction.atomic
def telemetry_history_import(*, rows: list[dict], source: str, now: dt.datetime | None = None) -> dict:
    """Store samples of known miners (dicts with site_id, miner_id, tenant_id — database ids —,
    an aware `ts` and the SAMPLE_COLUMNS) in the raw tier, and recompute their 1m buckets.
    Returns {"inserted": n, "buckets": n, "by_miner": {miner pk: n}}: a replay inserts 0 and writes no bucket."""
    if not rows:
        return {"inserted": 0, "buckets": 0, "by_miner": {}}
    now = now or timezone.now()
    history_partitions_ensure({r["ts"].astimezone(dt.UTC).date() for r in rows})
    payload = orjson.dumps([_row_json(r) for r in rows]).decode()
    with connection.cursor() as cur:
        cur.execute(_RAW_SQL, {"now": now, "device": f"import:{source}"[:128], "rows": payload})
        inserted = cur.fetchall()
        if not inserted:
            return {"inserted": 0, "buckets": 0, "by_miner": {}}
        sites, miners, buckets = (list(column) for column in zip(*inserted, strict=True))
        params: dict[str, Any] = {
            "now": now,
            "sites": sites,
            "miners": miners,
            "buckets": buckets,
            "site_ids": sorted(set(sites)),
        }
        params |= {"lo": min(buckets), "hi": max(buckets) + dt.timedelta(minutes=1)}
        cur.execute(_1M_SQL, params)
        written = cur.rowcount
    return {"inserted": len(inserted), "buckets": written, "by_miner": dict(Counter(m for _, m, _ in inserted))}
