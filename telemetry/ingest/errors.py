"""Whole-request refusals particular to uploads (SPEC §4.1); size and gzip/JSON refusals are in
core.wire. Anything else answers 200 with per-record reasons."""

from core.errors import DomainError


class InvalidShape(DomainError):
    """Valid JSON, but neither a list of records nor a telemetry_envelope.v1."""

    error_code = "INVALID_SHAPE"


class EnvelopeSiteMismatch(DomainError):
    status_code = 403
    error_code = "SITE_MISMATCH"


class PayloadKeyMissing(DomainError):
    """An encrypted envelope from a collector without a registered payload key."""

    error_code = "PAYLOAD_KEY_MISSING"


class QuarantineFull(DomainError):
    """The collector already has as many held (quarantined) batches as TELEMETRY_QUARANTINE_MAX_*
    allow: refused, so the collector keeps this one in its own spool."""

    status_code = 429
    error_code = "QUARANTINE_FULL"
