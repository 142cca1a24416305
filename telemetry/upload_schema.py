"""The upload bodies in the shapes the server accepts (issue 18: the schema said "binary"). Both
upload paths (legacy /api/collector/upload and /telemetry, v1 /api/edge/v1/telemetry/batch and
/ingest) take the same bodies (telemetry.ingest.decode.upload_shape): a bare JSON list of records
or a telemetry_envelope.v1 object, either as JSON or gzip-compressed (what the collector sends:
`Content-Type: application/octet-stream`, `Content-Encoding: gzip`; docs/COLLECTOR_PROTOCOL.md).

A record the validator refuses (telemetry.ingest.validate) does not fail the upload: it is counted
in `rejected` with its reason. The whole body is refused only when it is no JSON (400
MALFORMED_BODY), no list/envelope (400 INVALID_SHAPE), over the size limits (413) or for another
site (403 SITE_MISMATCH)."""

from telemetry.ingest.validate import (
    FLOAT_FIELDS,
    INT_FIELDS,
    MAX_MINER_ID,
    NON_NEGATIVE,
    TEMPERATURE_RANGE,
    TEMPERATURES,
    TEXT_FIELDS,
)

_NUMBER = {"type": "number", "nullable": True}
RECORD = {
    "type": "object",
    "description": "One miner sample. A record outside these rules is a counted rejection (`rejected`, "
    "`first_reasons`), not a failed upload.",
    "required": ["miner_id", "timestamp", "online"],
    "properties": {
        "miner_id": {"type": "string", "minLength": 1, "maxLength": MAX_MINER_ID},
        "timestamp": {
            "type": "string",
            "description": "ISO 8601 (or epoch seconds); at most COLLECTOR_MAX_FUTURE_SEC ahead, within the raw "
            "retention behind",
        },
        "online": {"type": "boolean"},
        **{name: dict(_NUMBER) for name in FLOAT_FIELDS},
        **{name: {"type": "integer", "nullable": True, "minimum": 0} for name in INT_FIELDS},
        **{name: {"type": "string", "nullable": True} for name in TEXT_FIELDS},
        "fan_speeds": {"type": "array", "items": {"type": "integer"}},
        "temperature_chips": {"type": "array", "items": {"type": "number"}},
        "miner_key": {"type": "string", "maxLength": 64},
    },
}
for _name in NON_NEGATIVE:
    RECORD["properties"][_name]["minimum"] = 0
for _name in TEMPERATURES:
    RECORD["properties"][_name].update(minimum=TEMPERATURE_RANGE[0], maximum=TEMPERATURE_RANGE[1])

# What an upload may carry as its records: anything (the upload is accepted); each item that is not
# a RECORD is counted in `rejected` with its reason, never stored.
ITEM = {"description": "A record (the first form); any other item is a counted rejection.", "anyOf": [RECORD, {}]}

ENVELOPE = {
    "type": "object",
    "description": "telemetry_envelope.v1 (SPEC §4.1). Unknown keys are ignored; `payload_enc` instead of "
    "`records` is an encrypted envelope (docs/COMPATIBILITY.md).",
    "required": ["records"],
    "properties": {
        "schema": {"type": "string", "enum": ["telemetry_envelope.v1"]},
        "site_id": {
            "description": "a string: the token's site (code or alias), otherwise 403 SITE_MISMATCH; "
            "any other value is ignored"
        },
        "mode": {"description": "a string (the collector's upload mode); any other value is ignored"},
        "records": {"type": "array", "items": ITEM},
    },
}
UPLOAD_REQUEST = {
    "application/json": {
        "description": "A JSON list of records, or a telemetry_envelope.v1 object.",
        "oneOf": [{"type": "array", "items": ITEM}, ENVELOPE],
    },
    "application/octet-stream": {
        "type": "string",
        "format": "binary",
        "description": "The same JSON, gzip-compressed (the collector's form, with `Content-Encoding: gzip`).",
    },
}
