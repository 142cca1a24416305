"""Per-record validation of collector telemetry: a plain function, not a DRF serializer — it runs
5,000 times per upload (a serializer costs ~10× more; see the report in docs/ARCHITECTURE.md).

A bad record is rejected with a code and the field named; the good ones go on. Nothing is
silently dropped: every record ends up accepted, rejected or a duplicate.
"""

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

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
    value: Any = record.get(name)  # narrowed by type(value) below, which mypy does not follow
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
        assert as_float is not None  # value is not None
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
        assert number is not None  # item is not None
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
        raise RecordError(
            "INVALID_MINER_ID", "miner_id", f"miner_id must be a non-empty string of at most {MAX_MINER_ID} characters"
        )
    try:
        ts = parse_timestamp(record["timestamp"])
    except (ValueError, TypeError, OverflowError):
        raise RecordError(
            "INVALID_TIMESTAMP", "timestamp", f"unparseable timestamp {str(record['timestamp'])[:40]!r}"
        ) from None
    if ts > not_after:
        raise RecordError(
            "FUTURE_TIMESTAMP", "timestamp", f"timestamp {record['timestamp']} is ahead of the server clock"
        )
    if ts < not_before:
        raise RecordError("TOO_OLD", "timestamp", f"timestamp {record['timestamp']} is older than the raw retention")
    row: dict[str, Any] = {"miner": miner_id, "ts": ts, "online": _bool(record, "online")}
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
    codes: dict[str, int] = field(default_factory=dict)  # every rejection, counted by error_code

    def reject(self, index: int, miner_id: str | None, err: RecordError) -> None:
        self.rejected += 1
        self.codes[err.code] = self.codes.get(err.code, 0) + 1
        if len(self.reasons) < MAX_REASONS:
            if miner_id is not None:  # echoed into a jsonb column: no NUL, bounded
                miner_id = miner_id.replace("\x00", "")[:MAX_MINER_ID]
            self.reasons.append(
                {
                    "index": index,
                    "miner_id": miner_id,
                    "error_code": err.code,
                    "field": err.field,
                    "message": err.message,
                }
            )


_FLOAT_OK = frozenset((float, int, type(None)))
_ITEM_TYPES = frozenset((int, float))
_INT_TYPES = frozenset((int,))
_fromisoformat = dt.datetime.fromisoformat
_UTC = dt.UTC


def _fast_row(record, not_before: dt.datetime, not_after: dt.datetime) -> dict | None:
    """validate_record for the record a collector normally sends — every field of its usual JSON
    type and in range — in one pass without helper calls. Returns exactly the row
    validate_record would, or None for anything else (validate_record then decides, and names
    the reason when there is one). 5,000 records per upload: this is most of validation's cost."""
    if type(record) is not dict:
        return None
    get = record.get
    miner_id, stamp, online = get("miner_id"), get("timestamp"), get("online")
    if type(miner_id) is not str or type(stamp) is not str or type(online) is not bool:
        return None
    if not 0 < len(miner_id) <= MAX_MINER_ID or "\x00" in miner_id or not miner_id.strip():
        return None
    try:
        # Naive means UTC: appending the offset parses it aware in one call (datetime.replace
        # costs ~6× the parse). A stamp with its own Z or offset fails here: parse_timestamp converts it.
        ts = _fromisoformat(stamp + "+00:00")
    except ValueError:
        return None
    if ts.tzinfo is not _UTC:  # a date without a time ignores the appended offset
        return None
    if not not_before <= ts <= not_after:
        return None
    hashrate, hashrate_5s, temp_avg, temp_max, freq = (
        get("hashrate_ghs"),
        get("hashrate_5s_ghs"),
        get("temperature_avg"),
        get("temperature_max"),
        get("frequency_avg"),
    )
    numbers = (hashrate, hashrate_5s, temp_avg, temp_max, freq)
    if not set(map(type, numbers)) <= _FLOAT_OK:
        return None  # strings, booleans, objects: the slow path parses or rejects them
    total = 0.0
    for value in numbers:
        if value is not None:
            if type(value) is int and not -BIGINT_MAX <= value <= BIGINT_MAX:
                return None
            total += value
    if total - total != 0.0:  # a NaN or an infinity among them (or an overflowing sum: the slow path decides)
        return None
    if type(hashrate) is int:
        hashrate = float(hashrate)
    if type(hashrate_5s) is int:
        hashrate_5s = float(hashrate_5s)
    if type(temp_avg) is int:
        temp_avg = float(temp_avg)
    if type(temp_max) is int:
        temp_max = float(temp_max)
    if type(freq) is int:
        freq = float(freq)
    low, high = TEMPERATURE_RANGE
    if (
        (hashrate is not None and hashrate < 0)
        or (hashrate_5s is not None and hashrate_5s < 0)
        or (temp_avg is not None and not low <= temp_avg <= high)
        or (temp_max is not None and not low <= temp_max <= high)
    ):
        return None
    accepted, rejected, hw_errors, uptime = (
        get("accepted_shares"),
        get("rejected_shares"),
        get("hardware_errors"),
        get("uptime_seconds"),
    )
    for value in (accepted, rejected, hw_errors, uptime):
        if value is not None and (type(value) is not int or not -BIGINT_MAX <= value <= BIGINT_MAX):
            return None
    fans, chips = get("fan_speeds"), get("temperature_chips")
    if fans is None:
        fans = []
    elif type(fans) is not list or (
        fans and (not set(map(type, fans)) <= _INT_TYPES or min(fans) < INT32_MIN or max(fans) > INT32_MAX)
    ):
        return None
    if chips is None:
        chips = []
    elif type(chips) is not list:
        return None
    elif chips:
        if not set(map(type, chips)) <= _ITEM_TYPES:
            return None
        try:
            total = sum(chips)
        except OverflowError:
            return None
        if total - total != 0:  # a NaN or an infinity among them
            return None
    pool, worker, error = get("pool_url"), get("worker_name"), get("error_message")
    if pool is None:
        pool = ""
    elif type(pool) is not str or "\x00" in pool:
        return None
    if worker is None:
        worker = ""
    elif type(worker) is not str or "\x00" in worker:
        return None
    if error is None:
        error = ""
    elif type(error) is not str or "\x00" in error:
        return None
    key = get("miner_key")
    return {
        "miner": miner_id,
        "ts": ts,
        "online": online,
        "hashrate_ghs": hashrate,
        "hashrate_5s_ghs": hashrate_5s,
        "temperature_avg": temp_avg,
        "temperature_max": temp_max,
        "frequency_avg": freq,
        "accepted_shares": accepted,
        "rejected_shares": rejected,
        "hardware_errors": hw_errors,
        "uptime_seconds": uptime,
        "fan_speeds": fans,
        "temperature_chips": chips,
        "pool_url": pool,
        "worker_name": worker,
        "error_message": error,
        "miner_key": key if type(key) is str and len(key) <= 64 else "",
    }


def validate_records(records: list, *, now: dt.datetime, max_future_sec: int, retention_days: int) -> Validated:
    not_after = now + dt.timedelta(seconds=max_future_sec)
    not_before = now - dt.timedelta(days=retention_days)
    result, seen = Validated(), set()
    fast = _fast_row
    for index, record in enumerate(records):
        row = fast(record, not_before, not_after)
        if row is None:
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
