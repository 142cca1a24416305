"""Whole-request refusals particular to uploads (SPEC §4.1); size and gzip/JSON refusals are in
core.wire. Anything else answers 200 with per-record reasons."""

from core.errors import DomainError


class InvalidShape(DomainError):
    """Valid JSON, but neither a list of records nor a telemetry_envelope.v1."""

    error_code = "INVALID_SHAPE"


class UnsupportedEncryption(DomainError):
    """An envelope carrying `payload_enc` (AES-GCM records): the cloud holds no edge key."""

    error_code = "UNSUPPORTED_ENCRYPTION"


class EnvelopeSiteMismatch(DomainError):
    status_code = 403
    error_code = "SITE_MISMATCH"
