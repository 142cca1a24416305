"""Metrics the ground floor itself counts; the rest live with the app that counts them."""

from prometheus_client import Counter

periodic_runs_total = Counter("periodic_runs_total", "Periodic job runs by outcome", ["job", "outcome"])
# Replica-scoped requests run again on the primary because the replica failed a read (core/replica.py).
replica_fallbacks_total = Counter(
    "replica_fallbacks_total", "Requests re-run on the primary after the replica failed a read", ["reason"]
)
