"""From a parsed upload body (core.wire) to its records: a bare list or a
telemetry_envelope.v1 (SPEC §4.1)."""

from dataclasses import dataclass, field

from telemetry.ingest.encrypted import Sealed, sealed_parse
from telemetry.ingest.errors import InvalidShape

ENVELOPE_SCHEMA = "telemetry_envelope.v1"


@dataclass
class Upload:
    """The records of one upload and what its envelope (if any) said about them."""

    body_format: str  # list | envelope | encrypted
    records: list
    envelope: dict = field(default_factory=dict)  # the envelope without its records
    sealed: Sealed | None = None  # an encrypted envelope's payload_enc, until it is opened

    @property
    def site_code(self) -> str:
        value = self.envelope.get("site_id")
        return value if isinstance(value, str) else ""

    @property
    def mode(self) -> str:
        value = self.envelope.get("mode")
        return value if isinstance(value, str) else ""


def upload_shape(payload) -> Upload:
    """A bare list of records (legacy, and v1 in the collector's auto mode) or a
    telemetry_envelope.v1 object, its records in clear or sealed in `payload_enc`
    (telemetry.ingest.encrypted; opened by the caller, which holds the keys). Unknown envelope
    keys are ignored."""
    if isinstance(payload, list):
        return Upload("list", payload)
    if not isinstance(payload, dict):
        raise InvalidShape("expected a list of records or a telemetry_envelope.v1 object")
    schema = payload.get("schema", ENVELOPE_SCHEMA)
    if schema != ENVELOPE_SCHEMA:
        raise InvalidShape(f"unsupported envelope schema {schema!r}")
    if "records" not in payload and "payload_enc" in payload:
        envelope = {k: v for k, v in payload.items() if k != "payload_enc"}
        return Upload("encrypted", [], envelope, sealed=sealed_parse(payload["payload_enc"]))
    records = payload.get("records")
    if not isinstance(records, list):
        raise InvalidShape("envelope has no 'records' list")
    return Upload("envelope", records, {k: v for k, v in payload.items() if k != "records"})
