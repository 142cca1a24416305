"""The canonical form of an audit event, fixed so a third party can re-verify the chain.

canonical_json(event) is the UTF-8 JSON object of the fields in CANONICAL_FIELDS, keys sorted
by code point at every depth, no whitespace, non-ASCII characters written as themselves, and
only the escapes JSON requires (\\" \\\\ \\b \\f \\n \\r \\t, other control characters as
\\u00xx). It contains no floating-point numbers: payloads are normalised at append time
(floats and Decimals become decimal strings, integers beyond 64 bits too; U+0000 and lone
surrogates, which jsonb or UTF-8 cannot hold, become U+FFFD), so the bytes are the
same from Python's json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False) and
from orjson with OPT_SORT_KEYS. Timestamps are UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ".

hash = hex(SHA256(prev_hash_hex_ascii || canonical_json(event))).
"""

import datetime as dt
import decimal
import hashlib
import re
import uuid

import orjson

CANONICAL_FIELDS = (
    "chain",
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "entity_type",
    "entity_id",
    "tenant_id",
    "site",
    "payload",
)
_INT64 = 2**63
_SURROGATE = re.compile("[\ud800-\udfff]")


def format_ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _clean_text(value: str) -> str:
    # PostgreSQL jsonb cannot store U+0000 and UTF-8 cannot carry a lone surrogate (json.loads
    # accepts "\\ud800" from a collector): both become U+FFFD, or the append would fail.
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    return value if value.isascii() else _SURROGATE.sub("\ufffd", value)


def _is_plain(value) -> bool:
    """A leaf that normalises to itself: most payload values, checked without a call per value."""
    kind = type(value)
    if kind is str:
        return value.isascii() and "\x00" not in value
    if kind is int:
        return -_INT64 <= value < _INT64
    return kind is bool or value is None


def normalize_payload(value):
    """Turn any payload into the JSON subset the canonical form allows (no floats, no NUL)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else str(value)
    if isinstance(value, (float, decimal.Decimal)):
        return format(value, "f") if isinstance(value, decimal.Decimal) else repr(value)
    if isinstance(value, dict):
        # _is_plain inlined: a poll's dispatch event lists 100 leases, and a call per key and
        # value was most of its append's CPU.
        out = {}
        for k, v in value.items():
            if type(k) is not str or not k.isascii() or "\x00" in k:
                k = _clean_text(str(k))
            kind = type(v)
            if kind is str:
                if not v.isascii() or "\x00" in v:
                    v = _clean_text(v)
            elif kind is int:
                if not -_INT64 <= v < _INT64:
                    v = str(v)
            elif v is not None and kind is not bool:
                v = normalize_payload(v)
            out[k] = v
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [v if _is_plain(v) else normalize_payload(v) for v in items]
    if isinstance(value, dt.datetime):
        return format_ts(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return _clean_text(str(value))


def canonical_parts(
    *, chain, actor_type, actor_id, actor_label, action, entity_type, entity_id, tenant_id, site, payload
) -> tuple[bytes, bytes, bytes]:
    """The canonical form of an event around its two chain-assigned fields: occurred_at and seq are
    known only once the chain head is locked, so the rest is serialised before the lock and
    `canonical_join` puts the pieces together under it. The sorted key order puts occurred_at
    after entity_type and seq after payload."""
    before = orjson.dumps(
        {
            "chain": chain,
            "actor_type": actor_type,
            "actor_id": actor_id,
            "actor_label": actor_label,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
        },
        option=orjson.OPT_SORT_KEYS,
    )
    after = orjson.dumps({"site": site, "tenant_id": tenant_id}, option=orjson.OPT_SORT_KEYS)
    payload_json = payload if isinstance(payload, bytes) else orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return before[:-1] + b',"occurred_at":"', b'","payload":' + payload_json + b',"seq":', b"," + after[1:]


def canonical_join(parts: tuple[bytes, bytes, bytes], occurred_at: str, seq: int) -> bytes:
    head, mid, tail = parts
    return b"%s%s%s%d%s" % (head, occurred_at.encode("ascii"), mid, seq, tail)


def canonical_bytes(
    *,
    chain,
    seq,
    occurred_at,
    actor_type,
    actor_id,
    actor_label,
    action,
    entity_type,
    entity_id,
    tenant_id,
    site,
    payload,
) -> bytes:
    parts = canonical_parts(
        chain=chain,
        actor_type=actor_type,
        actor_id=actor_id,
        actor_label=actor_label,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        tenant_id=tenant_id,
        site=site,
        payload=payload,
    )
    return canonical_join(parts, occurred_at if isinstance(occurred_at, str) else format_ts(occurred_at), seq)


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()
