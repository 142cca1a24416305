"""Metrics the ground floor itself counts; the rest live with the app that counts them."""

from prometheus_client import Counter

periodic_runs_total = Counter("periodic_runs_total", "Periodic job runs by outcome", ["job", "outcome"])
