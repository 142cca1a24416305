"""Ingest metrics (SPEC §12), each one PromQL expression away from the seeds' figures:

- ingest_success_rate = sum(rate(ingest_requests_total{status="200"}[5m])) / sum(rate(ingest_requests_total[5m]))
- ingest_latency_p95 = histogram_quantile(0.95, sum by (le) (rate(ingest_latency_seconds_bucket[5m])))
- rejected share = rate(ingest_records_total{result="rejected"}[5m]) / sum(rate(ingest_records_total[5m]))
- telemetry_ingest_lag_seconds{site}: received_at − newest sample of the site's last upload.

Under gunicorn (PROMETHEUS_MULTIPROC_DIR) counters and histograms add up across workers; the lag
gauge keeps the most recent value any worker wrote.
"""

from prometheus_client import Counter, Gauge, Histogram

ingest_records_total = Counter("ingest_records_total", "Uploaded telemetry records by outcome", ["result"])
ingest_requests_total = Counter(
    "ingest_requests_total", "Telemetry upload requests by endpoint and HTTP status", ["endpoint", "status"]
)
ingest_latency_seconds = Histogram(
    "ingest_latency_seconds",
    "Time to answer a telemetry upload, body read to response",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10),
)
telemetry_ingest_lag_seconds = Gauge(
    "telemetry_ingest_lag_seconds",
    "Seconds between the newest sample of a site's last upload and its arrival",
    ["site"],
    multiprocess_mode="mostrecent",
)


def ingest_observe(*, batch, site_code: str, newest) -> None:
    """Count one stored upload's records and its lag."""
    ingest_records_total.labels("accepted").inc(batch.accepted)
    ingest_records_total.labels("rejected").inc(batch.rejected)
    ingest_records_total.labels("duplicate").inc(batch.duplicates)
    if newest is not None:
        telemetry_ingest_lag_seconds.labels(site_code).set(max((batch.received_at - newest).total_seconds(), 0.0))


def request_observe(*, endpoint: str, status: int, seconds: float) -> None:
    ingest_requests_total.labels(endpoint, str(status)).inc()
    ingest_latency_seconds.labels(endpoint).observe(seconds)


# Encrypted envelopes (telemetry.quarantine): held because no registered key opened them, refused
# beyond TELEMETRY_QUARANTINE_MAX_*, and what the drain made of the held ones.
quarantined_batches_total = Counter(
    "telemetry_quarantined_batches_total", "Encrypted uploads held until their key is registered", ["reason"]
)
quarantine_refused_total = Counter(
    "telemetry_quarantine_refused_total", "Encrypted uploads refused because the collector's quarantine is full"
)
quarantine_drained_total = Counter(
    "telemetry_quarantine_drained_total", "Quarantined uploads replayed through ingest, by outcome", ["outcome"]
)
