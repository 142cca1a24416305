"""Rule engine metrics (SPEC §12)."""

from prometheus_client import Counter, Histogram

rule_evals_total = Counter("rule_evals_total", "Rule × miner evaluations by outcome", ["outcome"])
rule_hits_total = Counter("rule_hits_total", "Rule hits by kind (trigger, recovery, suppressed, capped)", ["kind"])
rule_pass_seconds = Histogram(
    "rule_pass_seconds", "Duration of one site's rule pass", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
)
