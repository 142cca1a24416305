"""The telemetry of the demo month, set-based: one INSERT … SELECT over generate_series per tier.

Every miner has a sample every 5 minutes (inside TELEMETRY_STALE_SEC, so the minutes between
count as online), the collector of each site an upload receipt every minute, except in the
plan's dark periods (neither). Episodes turn a miner's samples offline or zero-hash. The 15m and
daily tiers are rolled up from the 1m rows here, and the rollup watermarks moved past them, so the
beat's rollup job goes on from there instead of redoing (and "correcting") the month.
"""

import datetime as dt

from django.db import connection

from telemetry.models import RollupWatermark
from telemetry.partitions import ensure_partition

from .plan import STEP, Plan

DEVICE = "demo-history"  # device_id of the receipts and samples written here: how a re-run knows
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # telemetry.rollups' bucket origin

_SCRATCH = """
CREATE TEMP TABLE demo_bad (miner_id bigint, t timestamptz, kind text, PRIMARY KEY (miner_id, t)) ON COMMIT DROP;
CREATE TEMP TABLE demo_dark (site_id bigint, start timestamptz, stop timestamptz) ON COMMIT DROP;
"""
# Episodes expanded to their 5-minute samples (the first episode wins where two overlap).
_BAD = """
INSERT INTO demo_bad (miner_id, t, kind)
SELECT e.miner_id, t, e.kind
FROM unnest(%(miners)s::bigint[], %(starts)s::timestamptz[], %(stops)s::timestamptz[], %(kinds)s::text[])
    WITH ORDINALITY AS e(miner_id, start, stop, kind, n)
-- zero hashrate is judged only in minutes with a sample: those get one every minute
CROSS JOIN LATERAL generate_series(e.start, e.stop - interval '1 second',
    CASE WHEN e.kind = 'zero' THEN interval '1 minute' ELSE %(step)s END) t
ORDER BY e.n
ON CONFLICT DO NOTHING
"""
_DARK = """
INSERT INTO demo_dark SELECT * FROM unnest(%(sites)s::bigint[], %(starts)s::timestamptz[], %(stops)s::timestamptz[])
"""
_ONE_MINUTE = """
INSERT INTO telemetry_1m (site_id, tenant_id, miner_id, bucket, samples, online_samples, hashrate_5s_sum,
    hashrate_5s_count, hashrate_5s_max, temperature_max_max, temperature_max_sum, temperature_max_count,
    frequency_sum, frequency_count, first_ts, last_ts, revision, corrected, updated_at)
SELECT m.site_id, o.tenant_id, m.id, s.t, 1, v.online, v.ghs, v.online, v.ghs_max, v.temp, coalesce(v.temp, 0),
       v.online, coalesce(v.mhz, 0), v.online, s.t + interval '12 seconds', s.t + interval '12 seconds', 0, false,
       s.t + interval '40 seconds'
FROM tenants_miner m
CROSS JOIN (
    SELECT t, n FROM generate_series(%(a)s::timestamptz, %(b)s::timestamptz, %(step)s) WITH ORDINALITY g(t, n)
) s
JOIN tenants_minerownership o ON o.miner_id = m.id AND o.valid_from <= s.t AND (o.valid_to IS NULL OR s.t < o.valid_to)
LEFT JOIN demo_bad x ON x.miner_id = m.id AND x.t = s.t
CROSS JOIN LATERAL (
    SELECT (x.kind IS DISTINCT FROM 'offline')::int AS online,
           -- within ±3 %% of nominal, a little lower in the afternoon heat
           CASE WHEN x.kind IS NULL THEN m.nominal_hashrate_ths * 1000 * (0.985
               + 0.03 * (((m.id * 7919 + s.n * 104729) %% 1021) / 1021.0 - 0.5)
               - 0.01 * greatest(sin(extract(epoch FROM s.t) / 86400 * 2 * pi()), 0)) ELSE 0 END AS ghs,
           CASE WHEN x.kind IS NULL THEN m.nominal_hashrate_ths * 1010 WHEN x.kind = 'zero' THEN 0 END AS ghs_max,
           CASE WHEN x.kind IS DISTINCT FROM 'offline' THEN round((CASE WHEN x.kind = 'zero' THEN 48 ELSE 66 END
               + 6 * sin(extract(epoch FROM s.t) / 86400 * 2 * pi()) + m.id %% 7
               + ((m.id * 104729 + s.n * 7919) %% 251) / 125.0 - 1)::numeric, 1)::float END AS temp,
           CASE WHEN x.kind IS DISTINCT FROM 'offline' THEN 490 + m.id %% 5 * 5 END::float AS mhz
) v
WHERE m.site_id = ANY(%(sites)s)
  AND NOT EXISTS (SELECT 1 FROM demo_dark d WHERE d.site_id = m.site_id AND s.t >= d.start AND s.t < d.stop)
  AND (%(zero_minutes)s = false OR x.kind = 'zero')
ORDER BY s.t, m.site_id, o.tenant_id, m.id  -- day partitions filled one after the other
"""
# A receipt a minute per collector; the dark period starts a stale window earlier (the collector's
# last upload), so the minutes after its last sample are unmeasured rather than offline.
_RECEIPTS = """
INSERT INTO telemetry_ingestbatch (site_id, collector_id, token_prefix, device_id, endpoint, mode, body_format,
    received_at, body_sha256, body_bytes, record_count, accepted, rejected, duplicates, unknown_registered,
    first_reasons, sample_from, sample_to, duration_ms)
SELECT c.site_id, c.id, 'demo', %(device)s, 'v1', 'raw', 'envelope', t + interval '40 seconds',
       md5(c.id || '/' || t::text) || md5(t::text || '/' || c.id), 2048 + n.miners * 180, n.miners, n.miners, 0, 0, 0,
       '[]'::jsonb, t, t + interval '30 seconds', 25
FROM tenants_collector c
JOIN LATERAL (SELECT count(*) AS miners FROM tenants_miner m WHERE m.site_id = c.site_id) n ON true
CROSS JOIN generate_series(%(a)s::timestamptz, %(b)s::timestamptz, interval '1 minute') t
WHERE c.site_id = ANY(%(sites)s) AND c.id IN (SELECT min(id) FROM tenants_collector GROUP BY site_id)
  AND NOT EXISTS (SELECT 1 FROM demo_dark d WHERE d.site_id = c.site_id
                  AND t >= d.start - %(step)s AND t < d.stop)
"""
_ROLLUP = """
INSERT INTO {table} (site_id, tenant_id, miner_id, {key}, samples, online_samples, hashrate_5s_sum, hashrate_5s_count,
    hashrate_5s_max, temperature_max_max, temperature_max_sum, temperature_max_count, frequency_sum, frequency_count,
    first_ts, last_ts, revision, corrected, updated_at)
SELECT m.site_id, m.tenant_id, m.miner_id, {bucket}, sum(m.samples)::int, sum(m.online_samples)::int,
       sum(m.hashrate_5s_sum), sum(m.hashrate_5s_count)::int, max(m.hashrate_5s_max),
       max(m.temperature_max_max), sum(m.temperature_max_sum), sum(m.temperature_max_count)::int,
       sum(m.frequency_sum), sum(m.frequency_count)::int, min(m.first_ts), max(m.last_ts), 0, false,
       max(m.updated_at)
FROM {source} m
WHERE m.site_id = ANY(%(sites)s) AND m.bucket >= %(a)s AND m.bucket < %(closed)s
GROUP BY m.site_id, m.tenant_id, m.miner_id, {bucket}
ON CONFLICT DO NOTHING
"""
_LIVE = """
INSERT INTO telemetry_live (miner_id, site_id, tenant_id, ts, received_at, device_id, online, hashrate_ghs,
    hashrate_5s_ghs, temperature_max, frequency_avg, fan_speeds, pool_url, worker_name, error_message,
    temperature_chips, uptime_seconds)
SELECT DISTINCT ON (m.miner_id) m.miner_id, m.site_id, m.tenant_id, m.last_ts, m.updated_at, %(device)s,
       m.online_samples > 0, m.hashrate_5s_max, m.hashrate_5s_sum / nullif(m.hashrate_5s_count, 0),
       m.temperature_max_max, m.frequency_sum / nullif(m.frequency_count, 0),
       CASE WHEN m.online_samples > 0 THEN ARRAY[5400, 5460, 5520, 5400] ELSE '{}' END,
       'stratum+tcp://pool.demo:3333', 'demo.' || m.miner_id,
       CASE WHEN m.online_samples > 0 THEN '' ELSE 'no response' END,
       '{}', CASE WHEN m.online_samples > 0 THEN 86400 END
FROM telemetry_1m m
WHERE m.site_id = ANY(%(sites)s) AND m.bucket >= %(b)s - interval '1 hour' AND m.bucket <= %(b)s
ORDER BY m.miner_id, m.bucket DESC
ON CONFLICT (miner_id) DO NOTHING
"""


def _floor(value: dt.datetime, width: dt.timedelta) -> dt.datetime:
    return EPOCH + ((value - EPOCH) // width) * width


def tiers_write(plan: Plan, site_pks: list[int]) -> dict:
    """Writes 1m, the upload receipts, 15m, daily and the live row of each miner. Returns row counts."""
    day = plan.start.date()
    while day <= plan.end.date():
        ensure_partition("telemetry_1m", day)
        day += dt.timedelta(days=1)
    eps = plan.episodes
    counts = {}
    params = {"a": plan.start, "b": plan.end, "step": STEP, "sites": site_pks, "device": DEVICE}
    with connection.cursor() as cur:
        cur.execute(_SCRATCH)
        cur.execute(
            _BAD,
            {
                "miners": [e.miner_pk for e in eps],
                "starts": [e.start for e in eps],
                "stops": [e.stop for e in eps],
                "kinds": [e.kind for e in eps],
                "step": STEP,
            },
        )
        dark = plan.dark
        cur.execute(
            _DARK,
            {"sites": [d.site_pk for d in dark], "starts": [d.start for d in dark], "stops": [d.stop for d in dark]},
        )
        cur.execute(_ONE_MINUTE, {**params, "zero_minutes": False})
        counts["1m"] = cur.rowcount
        # the minutes between the 5-minute samples of zero-hashrate episodes
        extra = _ONE_MINUTE.replace(
            "FROM generate_series(%(a)s::timestamptz, %(b)s::timestamptz, %(step)s) WITH ORDINALITY g(t, n)",
            "FROM (SELECT DISTINCT t FROM demo_bad WHERE kind = 'zero' AND extract(minute FROM t)::int %% 5 <> 0) z"
            " CROSS JOIN LATERAL (SELECT (extract(epoch FROM z.t - %(a)s) / 300)::bigint AS n) g",
        )
        cur.execute(extra, {**params, "zero_minutes": True})
        counts["1m"] += cur.rowcount
        cur.execute(_RECEIPTS, params)
        counts["receipts"] = cur.rowcount
        for tier, table, key, width, bucket in (
            ("15m", "telemetry_15m", "bucket", dt.timedelta(minutes=15), "date_bin('15 minutes', m.bucket, %(epoch)s)"),
            ("daily", "telemetry_daily", "day", dt.timedelta(days=1), "(m.bucket AT TIME ZONE 'UTC')::date"),
        ):
            closed = _floor(plan.end, width)
            # daily from the 15m rows just written: the same sums, a third of the rows to read
            source = "telemetry_1m" if tier == "15m" else "telemetry_15m"
            sql = _ROLLUP.format(table=table, key=key, bucket=bucket, source=source)
            cur.execute(sql, {**params, "closed": closed, "epoch": EPOCH})
            counts[tier] = cur.rowcount
            _watermark(tier, closed)
        cur.execute(_LIVE, params)
        counts["live"] = cur.rowcount
    return counts


def _watermark(tier: str, closed: dt.datetime) -> None:
    """The rollup job starts after the buckets written here (or where it already was, if later)."""
    now = dt.datetime.now(dt.UTC)
    mark, _ = RollupWatermark.objects.get_or_create(tier=tier, defaults={"updated_at": now})
    mark.closed_through = max(mark.closed_through or closed, closed)
    mark.changed_through = max(mark.changed_through or now, now)
    mark.updated_at = now
    mark.save()
