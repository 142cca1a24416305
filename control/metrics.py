"""Every command-queue metric, in one module (SPEC §12). The operator side (lifecycle) counts
creations; the edge side (queue, ACKs, verification) counts dispatches, outcomes and ACK latency.

Under gunicorn prometheus-client runs in multiprocess mode (PROMETHEUS_MULTIPROC_DIR): counters and
histograms add up across workers by themselves; the one gauge is computed from the database, so
the most recent value written by any process is the right one ("mostrecent").
"""

from django.db.models import Min
from django.utils import timezone
from prometheus_client import Counter, Gauge, Histogram

commands_created_total = Counter("commands_created_total", "Commands created (one per miner of a batch)", ["type"])
commands_dispatched_total = Counter(
    "commands_dispatched_total", "Commands handed to a collector (each lease)", ["type"]
)
command_acks_total = Counter(
    "command_acks_total",
    "ACKs received by disposition: first (decided an attempt), replay, late (lapsed lease), unknown (no such id)",
    ["disposition"],
)
commands_succeeded_total = Counter("commands_succeeded_total", "Commands that ended succeeded", ["type"])
commands_failed_total = Counter("commands_failed_total", "Commands that ended failed", ["type", "error_code"])
command_ack_latency_seconds = Histogram(
    "command_ack_latency_seconds",
    "Time from a lease to the ACK that decides its attempt",
    ["type"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
queue_lag_seconds = Gauge(
    "queue_lag_seconds",
    "Age of the oldest ready (queued, unexpired, not backing off) command; 0 when none",
    multiprocess_mode="mostrecent",
)


def queue_lag_refresh(now=None) -> float:
    """Recompute queue_lag_seconds from the database (called on /metrics scrape or by a beat job)."""
    from control.models import Command, CommandState

    now = now or timezone.now()
    ready = Command.objects.filter(state=CommandState.QUEUED, expires_at__gt=now)
    ready = ready.exclude(not_before__gt=now)
    oldest = ready.aggregate(oldest=Min("created_at"))["oldest"]
    lag = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
    queue_lag_seconds.set(lag)
    return lag


command_proposals_refused_total = Counter(
    "command_proposals_refused_total",
    "Customers' proposals refused, by outcome: refused (403; audited when a miner or site is not theirs) or "
    "throttled (beyond PROPOSAL_REFUSAL_RATE: 429, not audited)",
    ["outcome"],
)
