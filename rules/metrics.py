"""Rule engine metrics (SPEC §12: evaluations, hits, pass duration, alerts firing).

Under gunicorn (PROMETHEUS_MULTIPROC_DIR) the counters and the histogram add up across workers;
the alerts gauge is computed from the database at scrape time (METRICS_SCRAPE_HOOKS), so the
most recent value any process wrote is the right one ("mostrecent")."""

from prometheus_client import Counter, Gauge, Histogram

rule_evals_total = Counter("rule_evals_total", "Rule × miner evaluations by outcome", ["outcome"])
rule_hits_total = Counter("rule_hits_total", "Rule hits by kind (trigger, recovery, suppressed, capped)", ["kind"])
rule_pass_seconds = Histogram(
    "rule_pass_seconds", "Duration of one site's rule pass", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
)
rule_alerts_firing = Gauge(
    "rule_alerts_firing",
    "Open (firing or acknowledged) alerts raised by the rule engine, by kind (rule_<metric>, miner_stale)",
    ["kind"],
    multiprocess_mode="mostrecent",
)


def alerts_firing_refresh() -> dict[str, int]:
    """Recompute rule_alerts_firing from the database (called on /metrics scrape). Every kind the
    engine raises is set, 0 included, so a kind whose alerts all resolved reads 0, not its last value."""
    from django.db.models import Count

    from hosting.models import Alert, AlertSource, AlertState
    from rules.models import Metric
    from rules.services.alerting import STALE

    counts = dict.fromkeys([*(f"rule_{m}" for m in Metric.values), STALE], 0)
    open_alerts = Alert.objects.filter(source=AlertSource.RULE).exclude(state=AlertState.RESOLVED)
    for kind, n in open_alerts.order_by().values_list("kind").annotate(n=Count("id")):
        counts[kind] = n
    for kind, n in counts.items():
        rule_alerts_firing.labels(kind).set(n)
    return counts
