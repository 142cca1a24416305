"""The SQL of one rule's pass: every miner of the rule's scope whose newest sample breaches, or that
the engine already remembers, with what its raw samples since the last pass say about the streak.

One statement per rule (not a query per miner). For each candidate miner it returns the newest
sample's value, its timestamp, the remembered state, and over the raw samples newer than the
last one counted (bounded by a lookback): how many there are, how many of them at the end breach
without a break (the trailing streak) and when that streak began.
"""

from rules.models import Metric, Op

# The accepted-shares counter of the miner's raw sample before `x` (within SHARES_PREVIOUS_WINDOW):
# equal to x's, the miner found no share between the two samples. A counter that went down (a restart)
# or a sample with no predecessor in the window is not "flat"; NULL on either side never breaches.
SHARES_PREVIOUS_WINDOW = "1 hour"
PREVIOUS_SHARES = (
    "SELECT p.accepted_shares FROM telemetry_raw p WHERE p.site_id = x.site_id AND p.miner_id = x.miner_id"
    f" AND p.ts < x.ts AND p.ts >= x.ts - interval '{SHARES_PREVIOUS_WINDOW}' ORDER BY p.ts DESC LIMIT 1"
)

# A metric over a sample row aliased `x` (live or raw: the same columns) and its miner `m`.
METRIC_SQL: dict[str, str] = {
    Metric.TEMP_MAX: "x.temperature_max",
    Metric.TEMP_AVG: "x.temperature_avg",
    Metric.HASHRATE: "x.hashrate_5s_ghs / 1000.0",
    Metric.HASHRATE_PCT: "x.hashrate_5s_ghs / 10.0 / NULLIF(m.nominal_hashrate_ths, 0)",
    Metric.REJECT_RATE: (
        "100.0 * x.rejected_shares / NULLIF(coalesce(x.accepted_shares, 0) + coalesce(x.rejected_shares, 0), 0)"
    ),
    Metric.HW_ERRORS: "x.hardware_errors",
    Metric.FAN: "(SELECT min(f) FROM unnest(x.fan_speeds) AS f)",
    Metric.OFFLINE: "CASE WHEN x.online THEN 0 ELSE 1 END",
    Metric.NOT_HASHING: (
        "CASE WHEN x.online AND (coalesce(x.hashrate_5s_ghs, 0) = 0"
        " OR x.hashrate_5s_ghs / 10.0 / NULLIF(m.nominal_hashrate_ths, 0) < %(not_hashing_pct)s"
        f" OR x.accepted_shares = ({PREVIOUS_SHARES})) THEN 1 ELSE 0 END"
    ),
}

OP_SQL: dict[str, str] = {Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}


def breach_sql(metric: str, op: str, param: str) -> str:
    """`value op threshold` over sample `x`; NULL (no value) never breaches."""
    return f"coalesce(({METRIC_SQL[metric]}) {OP_SQL[op]} %({param})s, false)"


def candidates_sql(*, metric: str, op: str, zone: bool, group: bool, tenant: bool, miners: bool, excluded: bool) -> str:
    scope = [
        "m.site_id = %(site)s",
        "m.zone_id = %(zone)s" if zone else "",
        "EXISTS (SELECT 1 FROM tenants_minergroup_miners g WHERE g.minergroup_id = %(group)s AND g.miner_id = m.id)"
        if group
        else "",
        "l.tenant_id = %(tenant)s" if tenant else "",
        "m.id = ANY(%(miners)s)" if miners else "",
        "NOT (m.id = ANY(%(excluded)s))" if excluded else "",
    ]
    where = " AND ".join(s for s in scope if s)
    # The live value once per miner (OFFSET 0 keeps the planner from inlining it into each use:
    # not_hashing's previous-sample lookup would run three times per row).
    live_breach = f"coalesce(v.value {OP_SQL[op]} %(threshold)s, false)"
    raw_breach = breach_sql(metric, op, "threshold").replace("x.", "r.")
    return f"""
SELECT m.id, m.miner_id, l.tenant_id, m.zone_id, l.ts, v.value,
       {live_breach} AS breach,
       s.id, s.mode, s.count, s.first_breach_at, s.last_sample_ts, s.last_trigger_at, s.cooldown_until,
       s.day, s.triggers_today,
       w.n_new, w.trailing, w.streak_from
FROM tenants_miner m
JOIN telemetry_live l ON l.miner_id = m.id AND l.site_id = %(site)s
CROSS JOIN LATERAL (SELECT ({METRIC_SQL[metric].replace("x.", "l.")}) AS value OFFSET 0) v
LEFT JOIN rules_rulestate s ON s.rule_id = %(rule)s AND s.miner_id = m.id
LEFT JOIN LATERAL (
    SELECT count(*) AS n_new,
           count(*) FILTER (WHERE q.ts > coalesce(q.last_ok, '-infinity')) AS trailing,
           min(q.ts) FILTER (WHERE q.ts > coalesce(q.last_ok, '-infinity')) AS streak_from
    FROM (
        SELECT r.ts, max(r.ts) FILTER (WHERE NOT {raw_breach}) OVER () AS last_ok
        FROM telemetry_raw r
        WHERE r.site_id = m.site_id AND r.miner_id = m.id
          AND r.ts > greatest(coalesce(s.last_sample_ts, '-infinity'), %(lookback_from)s) AND r.ts <= %(now)s
    ) q
) w ON true
WHERE {where} AND ({live_breach} OR s.id IS NOT NULL)
ORDER BY m.id
"""
