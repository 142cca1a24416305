"""Per-record validation of collector telemetry: a plain function, not a DRF serializer — it runs
5,000 times per upload (a serializer costs ~10× more; see the report in docs/ARCHITECTURE.md).

A bad record is rejected with a code and the field named; the good ones go on. Nothing is
silently dropped: every record ends up accepted, rejected or a duplicate.
"""

import datetime as dt
import math
from dataclasses import dataclass, field

MAX_MINER_ID = 128
TEMPERATURE_RANGE = (-40.0, 150.0)  # °C; outside it a sensor or a parser is broken
BIGINT_MAX = 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_REASONS = 20

FLOAT_FIELDS = ("hashrate_ghs", "hashrate_5s_ghs", "temperature_avg", "temperature_max", "frequency_avg")
NON_NEGATIVE = ("hashrate_ghs", "hashrate_5s_ghs")
TEMPERATURES = ("temperature_avg", "temperature_max")
INT_FIELDS = ("accepted_shares", "rejected_shares", "hardware_errors", "uptime_seconds")
TEXT_FIELDS = ("pool_url", "worker_name", "error_message")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


class RecordError(Exception):
    def __init__(self, code: str, field: str, message: str):
        super().__init__(message)
        self.code, self.field, self.message = code, field, message


def parse_timestamp(value) -> dt.datetime:
    """Naive UTC ISO-8601 as the collector sends it (with or without microseconds); a trailing Z
    or an offset is honoured. Returns an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        raise ValueError
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _float(record: dict, name: str) -> float | None:
    value = record.get(name)
    kind = type(value)
    if kind is float and value - value == 0.0:  # the common case first; inf and nan fail value - value == 0
        return value
    if kind is int:
        return float(value)
    if value is None:
        return None
    if kind is str:  # firmwares pass numbers through as strings (protocol §1.1)
        try:
            number = float(value.strip())
        except ValueError:
            raise RecordError("INVALID_NUMBER", name, f"{name} is not a number: {value[:40]!r}") from None
        if math.isfinite(number):
            return number
        raise RecordError("INVALID_NUMBER", name, f"{name} is not a finite number")
    if kind is float:
        raise RecordError("INVALID_NUMBER", name, f"{name} is not a finite number")
    raise RecordError("INVALID_NUMBER", name, f"{name} must be a number")  # JSON true is no number either


def _int(record: dict, name: str) -> int | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        as_float = _float(record, name)
        if isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                number = int(as_float)
        else:
            number = int(as_float)
    if not -BIGINT_MAX <= number <= BIGINT_MAX:
        raise RecordError("OUT_OF_RANGE", name, f"{name} does not fit a 64-bit integer")
    return number


def _numbers(record: dict, name: str, kind) -> list:
    value = record.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError("INVALID_NUMBER", name, f"{name} must be a list of numbers")
    plain = (int,) if kind is int else (int, float)
    if all(type(item) in plain for item in value) and (kind is int or all(item - item == 0 for item in value)):
        return value  # as the collector sends them: no conversion needed
    out = []
    for item in value:
        if type(item) not in (int, float, str):
            raise RecordError("INVALID_NUMBER", name, f"{name} must be a list of numbers")
        number = _float({name: item}, name)
        out.append(round(number) if kind is int else number)
    return out


def _bool(record: dict, name: str) -> bool:
    value = record.get(name)
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise RecordError("INVALID_BOOLEAN", name, f"{name} must be true or false")


def _text(record: dict, name: str) -> str:
    value = record.get(name)
    if value is None:
        return ""
    value = value if isinstance(value, str) else str(value)
    return value.replace("\x00", "") if "\x00" in value else value  # PostgreSQL text cannot hold NUL


def validate_record(record, *, not_before: dt.datetime, not_after: dt.datetime) -> dict:
    """One record → the row to store (miner still as the edge's string id). Raises RecordError."""
    if not isinstance(record, dict):
        raise RecordError("INVALID_RECORD", "", "a record must be a JSON object")
    for name in ("miner_id", "timestamp", "online"):
        if record.get(name) is None:
            raise RecordError("MISSING_FIELD", name, f"{name} is required")
    miner_id = record["miner_id"]
    if not isinstance(miner_id, str) or not miner_id.strip() or len(miner_id) > MAX_MINER_ID or "\x00" in miner_id:
        raise RecordError("INVALID_MINER_ID", "miner_id", f"miner_id must be a non-empty string of at most {MAX_MINER_ID} characters")
    try:
        ts = parse_timestamp(record["timestamp"])
    except (ValueError, TypeError, OverflowError):
        raise RecordError("INVALID_TIMESTAMP", "timestamp", f"unparseable timestamp {str(record['timestamp'])[:40]!r}") from None
    if ts > not_after:
        raise RecordError("FUTURE_TIMESTAMP", "timestamp", f"timestamp {record['timestamp']} is ahead of the server clock")
    if ts < not_before:
        raise RecordError("TOO_OLD", "timestamp", f"timestamp {record['timestamp']} is older than the raw retention")
    row = {"miner": miner_id, "ts": ts, "online": _bool(record, "online")}
    for name in FLOAT_FIELDS:
        row[name] = _float(record, name)
    for name in NON_NEGATIVE:
        if row[name] is not None and row[name] < 0:
            raise RecordError("OUT_OF_RANGE", name, f"{name} is negative")
    low, high = TEMPERATURE_RANGE
    for name in TEMPERATURES:
        if row[name] is not None and not low <= row[name] <= high:
            raise RecordError("OUT_OF_RANGE", name, f"{name} {row[name]} is outside {low:g}..{high:g} °C")
    for name in INT_FIELDS:
        row[name] = _int(record, name)
    row["fan_speeds"] = _numbers(record, "fan_speeds", int)
    if any(not INT32_MIN <= speed <= INT32_MAX for speed in row["fan_speeds"]):
        raise RecordError("OUT_OF_RANGE", "fan_speeds", "fan_speeds does not fit 32-bit integers")
    row["temperature_chips"] = _numbers(record, "temperature_chips", float)
    for name in TEXT_FIELDS:
        row[name] = _text(record, name)
    key = record.get("miner_key")
    row["miner_key"] = key if isinstance(key, str) and len(key) <= 64 else ""  # kept for miners registered from it
    return row


@dataclass
class Validated:
    rows: list[dict] = field(default_factory=list)  # accepted so far, unique per (miner, ts)
    rejected: int = 0
    duplicates: int = 0  # repeated (miner, ts) inside the upload
    reasons: list[dict] = field(default_factory=list)  # the first MAX_REASONS rejections

    def reject(self, index: int, miner_id: str | None, err: RecordError) -> None:
        self.rejected += 1
        if len(self.reasons) < MAX_REASONS:
            if miner_id is not None:  # echoed into a jsonb column: no NUL, bounded
                miner_id = miner_id.replace("\x00", "")[:MAX_MINER_ID]
            self.reasons.append({"index": index, "miner_id": miner_id, "error_code": err.code, "field": err.field, "message": err.message})


def validate_records(records: list, *, now: dt.datetime, max_future_sec: int, retention_days: int) -> Validated:
    not_after = now + dt.timedelta(seconds=max_future_sec)
    not_before = now - dt.timedelta(days=retention_days)
    result, seen = Validated(), set()
    for index, record in enumerate(records):
        try:
            row = validate_record(record, not_before=not_before, not_after=not_after)
        except RecordError as err:
            miner_id = record.get("miner_id") if isinstance(record, dict) else None
            result.reject(index, miner_id if isinstance(miner_id, str) else None, err)
            continue
        row["index"] = index
        key = (row["miner"], row["ts"])
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        result.rows.append(row)
    return result

