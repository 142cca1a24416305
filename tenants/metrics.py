"""Metrics counted by tenants (the collector edge guard)."""

from prometheus_client import Counter

edge_refusals_total = Counter(
    "edge_refusals_total",
    "Collector requests refused by the edge guard (source allowlist, mTLS), by error_code",
    ["error_code"],
)
