"""The classification of every (miner, minute) of one site and window, in one statement, and its
compression into runs (gaps and islands). docs/DOWNTIME.md is the prose of this SQL.

Parameters: site, a, b (the window, whole minutes), look (a minus the stale window: the minutes
whose samples decide "no sample yet, still the last state"), stale (seconds), zero_pct, and
maint (json: [{id, zone_id, miner_id, start, end}] occurrences of maintenance windows).
"""

RUNS_SQL = """
WITH minutes AS (
    SELECT t
    FROM generate_series(%(look)s::timestamptz, %(b)s::timestamptz - interval '1 minute', interval '1 minute') t
),
grid AS (  -- every miner of the site, each minute, with its owner at that minute
    SELECT m.id AS miner_id, m.zone_id, o.tenant_id, mi.t, m.nominal_hashrate_ths
    FROM tenants_miner m
    JOIN tenants_minerownership o ON o.miner_id = m.id
    JOIN minutes mi ON mi.t >= date_trunc('minute', o.valid_from) AND (o.valid_to IS NULL OR mi.t < o.valid_to)
    WHERE m.site_id = %(site)s
),
sample AS (  -- the miner's 1-minute rows (two when its owner changed within the minute)
    SELECT x.miner_id, x.bucket AS t, sum(x.samples) AS samples, sum(x.online_samples) AS online_samples,
           sum(x.hashrate_5s_sum) / nullif(sum(x.hashrate_5s_count), 0) AS hashrate_ghs
    FROM telemetry_1m x
    WHERE x.site_id = %(site)s AND x.bucket >= %(look)s AND x.bucket < %(b)s
    GROUP BY x.miner_id, x.bucket
),
covered AS MATERIALIZED (  -- per minute: a site-wide collector uploading, or the zones whose were
    -- an upload received at r covers the minutes t with t + 1 min - stale < r <= t + 1 min
    SELECT t, bool_or(c.zone_id IS NULL) AS site_wide, array_agg(DISTINCT c.zone_id) AS zones
    FROM telemetry_ingestbatch u
    JOIN tenants_collector c ON c.id = u.collector_id
    CROSS JOIN LATERAL generate_series(
        date_trunc('minute', u.received_at - interval '1 minute' - interval '1 microsecond') + interval '1 minute',
        u.received_at - interval '1 minute' + %(stale)s * interval '1 second' - interval '1 microsecond',
        interval '1 minute') t
    WHERE u.site_id = %(site)s AND u.received_at <= %(b)s
      AND u.received_at > %(look)s + interval '1 minute' - %(stale)s * interval '1 second'
      AND t >= %(look)s AND t < %(b)s
    GROUP BY t
),
cmd AS MATERIALIZED (  -- commands that take a miner down, from their first lease to the end of their effect
    SELECT c.id, c.miner_id, (c.command_type = 'disable_hashing' AND c.priority_class = 30) AS curtail,
           l.first_lease AS start,
           CASE WHEN c.command_type = 'disable_hashing' THEN coalesce((
                    SELECT min(e.finished_at) FROM control_command e
                    WHERE e.miner_id = c.miner_id AND e.command_type = 'enable_hashing' AND e.state = 'succeeded'
                      AND e.created_at > c.created_at), 'infinity')
                ELSE coalesce(c.finished_at, 'infinity') END
           + %(stale)s * interval '1 second' AS stop
    FROM control_command c
    JOIN LATERAL (SELECT min(a.leased_at) AS first_lease FROM control_commandattempt a WHERE a.command_id = c.id) l
        ON l.first_lease IS NOT NULL
    WHERE c.site_id = %(site)s AND c.command_type IN ('reboot', 'disable_hashing', 'power_off')
      AND c.state IN ('dispatched', 'running', 'acked', 'succeeded') AND l.first_lease < %(b)s
),
maint AS MATERIALIZED (
    SELECT * FROM json_to_recordset(%(maint)s::json)
        AS w(id bigint, zone_id bigint, miner_id bigint, start timestamptz, stop timestamptz)
),
state AS (
    SELECT g.miner_id, g.zone_id, g.tenant_id, g.t, s.samples, s.online_samples, s.hashrate_ghs,
           (s.t IS NOT NULL) AS sampled,
           s.online_samples > 0 AND coalesce(s.hashrate_ghs, 0) <= CASE
               WHEN g.nominal_hashrate_ths > 0 THEN g.nominal_hashrate_ths * 1000 * %(zero_pct)s / 100.0 ELSE 0 END
               AS zero,
           -- the newest minute with a sample, and the newest online / offline / zero one, so far
           max(s.t) OVER w AS last_t,
           max(CASE WHEN s.online_samples > 0 THEN s.t END) OVER w AS last_on,
           max(CASE WHEN s.online_samples = 0 THEN s.t END) OVER w AS last_off
    FROM grid g LEFT JOIN sample s ON s.miner_id = g.miner_id AND s.t = g.t
    WINDOW w AS (PARTITION BY g.miner_id ORDER BY g.t ROWS UNBOUNDED PRECEDING)
),
judged AS (
    SELECT st.*,
           st.sampled OR (cv.t IS NOT NULL
               AND coalesce(cv.site_wide OR st.zone_id IS NULL OR st.zone_id = ANY(cv.zones), false)) AS measured,
           CASE WHEN st.sampled THEN st.online_samples > 0
                WHEN st.last_t > st.t - %(stale)s * interval '1 second'
                    THEN st.last_on IS NOT NULL AND (st.last_off IS NULL OR st.last_on > st.last_off)
                ELSE false END AS online
    FROM state st LEFT JOIN covered cv ON cv.t = st.t  -- a hash join: one probe per (miner, minute)
    WHERE st.t >= %(a)s
),
attributed AS (
    SELECT j.miner_id, j.tenant_id, j.t, coalesce(j.samples, 0) AS samples,
           coalesce(j.online_samples, 0) AS online_samples, j.hashrate_ghs, mw.id AS maintenance_id,
           c.id AS command_id,
           CASE WHEN mw.id IS NOT NULL AND (NOT j.measured OR NOT j.online OR j.zero) THEN 'maintenance'
                WHEN NOT j.measured THEN 'unmeasured'
                WHEN j.online AND NOT coalesce(j.zero, false) THEN NULL
                WHEN c.id IS NOT NULL AND c.curtail THEN 'curtailment'
                WHEN c.id IS NOT NULL THEN 'command'
                WHEN NOT j.online THEN 'offline'
                ELSE 'zero_hashrate' END AS cause
    FROM judged j
    LEFT JOIN LATERAL (
        SELECT w.id FROM maint w
        WHERE w.start < j.t + interval '1 minute' AND w.stop > j.t
          AND (w.miner_id = j.miner_id OR (w.miner_id IS NULL AND (w.zone_id IS NULL OR w.zone_id = j.zone_id)))
        ORDER BY w.start LIMIT 1
    ) mw ON true
    LEFT JOIN LATERAL (
        SELECT k.id, k.curtail FROM cmd k
        WHERE k.miner_id = j.miner_id AND k.start < j.t + interval '1 minute' AND k.stop > j.t
        ORDER BY k.start DESC LIMIT 1
    ) c ON true
),
cleaned AS (  -- a command or window explains a minute only where the cause says so
    SELECT a.miner_id, a.tenant_id, a.t, a.samples, a.online_samples, a.hashrate_ghs, a.cause,
           CASE WHEN a.cause IN ('command', 'curtailment') THEN a.command_id END AS command_id,
           CASE WHEN a.cause = 'maintenance' THEN a.maintenance_id END AS maintenance_id
    FROM attributed a WHERE a.cause IS NOT NULL
),
islands AS (
    SELECT a.*,
           a.t - row_number() OVER (
               PARTITION BY a.miner_id, a.tenant_id, a.cause, a.command_id, a.maintenance_id ORDER BY a.t
           ) * interval '1 minute' AS island
    FROM cleaned a
)
SELECT miner_id, tenant_id, cause, command_id, maintenance_id,
       min(t) AS started_at, max(t) + interval '1 minute' AS ended_at,
       count(*) AS minutes, sum(samples) AS samples, sum(online_samples) AS online_samples,
       avg(hashrate_ghs) AS hashrate_ghs
FROM islands
GROUP BY miner_id, tenant_id, cause, command_id, maintenance_id, island
ORDER BY miner_id, started_at
"""
