"""Hosting metrics (docs/OPERATIONS.md). Under gunicorn (PROMETHEUS_MULTIPROC_DIR) they add up
across workers."""

from prometheus_client import Counter

# Ready evidence packs found without their file in the pack storage: counted once per pack, by the
# download that turned it failed (hosting.services.evidence.evidence_pack_file_missing).
evidence_pack_files_missing_total = Counter(
    "evidence_pack_files_missing_total", "Ready evidence packs whose stored file was found missing (marked failed)"
)
