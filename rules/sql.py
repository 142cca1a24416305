"""The SQL of one rule's pass: every miner of the rule's scope whose newest sample breaches, or that
the engine already remembers, with what its raw samples since the last pass say about the streak.

One statement per rule (not a query per miner). For each candidate miner it returns the newest
sample's value, its timestamp, the remembered state, and over the raw samples newer than the
last one counted (bounded by a lookback): how many there are, how many of them at the end breach
without a break (the trailing streak) and when that streak began.
"""

from rules.models import Metric, Op, Rule

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

# The same metrics over a 1-minute rollup row aliased `x` (telemetry_1m) and its miner `m`, for the
# backtest. The tier keeps aggregates of online samples only: the hottest temperature_max of the
# minute, the sum and count of hashrate_5s_ghs, online and total sample counts. With one sample a
# minute each is the raw sample's value (an offline minute has no temperature or hashrate: a raw
# offline record's zeros are not measurements). None: the tier has no column for it.
_HASHRATE_1M = "(x.hashrate_5s_sum / NULLIF(x.hashrate_5s_count, 0))"
METRIC_1M_SQL: dict[str, str | None] = {
    Metric.TEMP_MAX: "x.temperature_max_max",
    Metric.TEMP_AVG: None,
    Metric.HASHRATE: f"{_HASHRATE_1M} / 1000.0",
    Metric.HASHRATE_PCT: f"{_HASHRATE_1M} / 10.0 / NULLIF(m.nominal_hashrate_ths, 0)",
    Metric.REJECT_RATE: None,
    Metric.HW_ERRORS: None,
    Metric.FAN: None,
    Metric.OFFLINE: "CASE WHEN x.online_samples > 0 THEN 0 ELSE 1 END",
    Metric.NOT_HASHING: None,  # also "no share since the previous sample": the tier keeps no share counters
}

OP_SQL: dict[str, str] = {Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}


def breach_sql(metric: str, op: str, param: str, metrics: dict = METRIC_SQL) -> str:
    """`value op threshold` over sample `x`; NULL (no value) never breaches."""
    return f"coalesce(({metrics[metric]}) {OP_SQL[op]} %({param})s, false)"


def scope_sql(*, zone: bool, group: bool, tenant: bool, miners: bool, excluded: bool, tenant_column: str) -> str:
    """The rule's scope over miner `m` (and the sample's owner in `tenant_column`): the live pass and
    the backtest share it, so the two cannot disagree on which miners a rule covers."""
    scope = [
        "m.site_id = %(site)s",
        "m.zone_id = %(zone)s" if zone else "",
        "EXISTS (SELECT 1 FROM tenants_minergroup_miners g WHERE g.minergroup_id = %(group)s AND g.miner_id = m.id)"
        if group
        else "",
        f"{tenant_column} = %(tenant)s" if tenant else "",
        "m.id = ANY(%(miners)s)" if miners else "",
        "NOT (m.id = ANY(%(excluded)s))" if excluded else "",
    ]
    return " AND ".join(s for s in scope if s)


def candidates_sql(*, metric: str, op: str, zone: bool, group: bool, tenant: bool, miners: bool, excluded: bool) -> str:
    where = scope_sql(
        zone=zone, group=group, tenant=tenant, miners=miners, excluded=excluded, tenant_column="l.tenant_id"
    )
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


def backtest_sql(*, metric: str, op: str, zone: bool, group: bool, tenant: bool, miners: bool, excluded: bool) -> str:
    """The 1-minute rows of the rule's scope in [lo, hi), per miner in time order, only of the miners
    with at least one breaching minute in the period (a miner that never breaches cannot trigger,
    and recovery needs a trigger first). One statement, read through a server-side cursor."""
    where = scope_sql(
        zone=zone, group=group, tenant=tenant, miners=miners, excluded=excluded, tenant_column="x.tenant_id"
    )
    breach = breach_sql(metric, op, "threshold", METRIC_1M_SQL)
    period = "x.site_id = %(site)s AND x.bucket >= %(lo)s AND x.bucket < %(hi)s"
    return f"""
SELECT m.id, m.miner_id, x.tenant_id, m.zone_id, x.bucket, x.first_ts, x.last_ts,
       ({METRIC_1M_SQL[metric]}) AS value, {breach} AS breach
FROM telemetry_1m x
JOIN tenants_miner m ON m.id = x.miner_id
WHERE {period} AND {where}
  AND x.miner_id IN (SELECT x.miner_id FROM telemetry_1m x JOIN tenants_miner m ON m.id = x.miner_id
                     WHERE {period} AND {breach})
ORDER BY m.id, x.bucket, x.tenant_id
"""


def scope_flags(rule: Rule) -> dict[str, bool]:
    """Which scope conditions `rule` has (the keyword arguments of scope_sql and its callers)."""
    return {
        "zone": bool(rule.zone_id),
        "group": bool(rule.group_id),
        "tenant": bool(rule.tenant_id),
        "miners": bool(rule.miners),
        "excluded": bool(rule.excluded_miners),
    }


def scope_params(rule: Rule) -> dict:
    """The parameters scope_sql's text reads."""
    return {
        "site": rule.site_id,
        "zone": rule.zone_id,
        "group": rule.group_id,
        "tenant": rule.tenant_id,
        "miners": list(rule.miners),
        "excluded": list(rule.excluded_miners),
    }
