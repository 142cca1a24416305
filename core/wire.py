"""Bodies the edge collector sends: read raw and capped, gzip detected by its magic bytes,
decompressed with a cap, parsed as JSON (SPEC §4.1). Used by telemetry uploads and command ACKs.

NUL characters (JSON `\\u0000`) are dropped from every string, keys included: PostgreSQL's text and
jsonb cannot hold them, and refusing the body would make the collector spool and replay it
forever (a non-200 ACK or upload is retried, SPEC §4.1). docs/SECURITY.md "Request limits"."""

import zlib

import orjson

from core.errors import DomainError


class PayloadTooLarge(DomainError):
    status_code = 413
    error_code = "PAYLOAD_TOO_LARGE"


class MalformedBody(DomainError):
    """Neither gzip nor JSON, a truncated gzip stream, an empty body."""

    error_code = "MALFORMED_BODY"


GZIP_MAGIC = b"\x1f\x8b"
_READ_CHUNK = 64 * 1024


def read_body(request, *, max_bytes: int) -> bytes:
    """The raw body of a Django request, capped: refused from Content-Length before reading, and
    while reading (a lying or missing Content-Length cannot get past the cap either).

    Read from the stream, not request.body: DRF's parsers would answer the collector's
    application/octet-stream with 415, and request.body has its own, different cap."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > max_bytes:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the {max_bytes}-byte limit")
    chunks, total = [], 0
    while True:
        chunk = request.read(_READ_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise PayloadTooLarge(f"body exceeds the {max_bytes}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def gunzip_capped(body: bytes, *, max_bytes: int) -> bytes:
    """Decompress every gzip member of `body`, never holding more than `max_bytes` (+1) of output:
    a gzip bomb is refused after producing at most the cap, not after filling memory."""
    out, total, data = [], 0, body
    while data:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        pending = data
        try:
            while not inflater.eof:
                piece = inflater.decompress(pending, max_bytes - total + 1)
                pending = inflater.unconsumed_tail
                if not piece and not pending:
                    break  # input used up, no output pending: the stream is cut short
                total += len(piece)
                if total > max_bytes:
                    raise PayloadTooLarge(f"decompressed body exceeds the {max_bytes}-byte limit")
                out.append(piece)
        except zlib.error as exc:
            raise MalformedBody(f"invalid gzip data: {exc}") from exc
        if not inflater.eof:
            raise MalformedBody("truncated gzip data")
        # Concatenated members are legal gzip; anything else after the stream is garbage.
        data = inflater.unused_data
        if data and not data.startswith(GZIP_MAGIC):
            raise MalformedBody("trailing bytes after the gzip stream")
    return b"".join(out)


def decode_body(body: bytes, *, max_decompressed: int):
    """gzip (detected by its magic bytes, whatever Content-Encoding says) or plain JSON → Python."""
    if not body:
        raise MalformedBody("empty body")
    if body[:2] == GZIP_MAGIC:
        body = gunzip_capped(body, max_bytes=max_decompressed)
    elif len(body) > max_decompressed:
        raise PayloadTooLarge(f"body exceeds the {max_decompressed}-byte limit")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"body is neither gzip nor JSON: {exc}") from exc
    # JSON can only carry a NUL escaped; one byte search keeps the walk off the hot path.
    return strip_nul(payload) if _NUL_ESCAPE in body else payload


_NUL_ESCAPE = b"\\u0000"


def strip_nul(value):
    """`value` (parsed JSON) with every NUL character removed from its strings and keys."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [strip_nul(v) for v in value]
    if isinstance(value, dict):
        return {k.replace("\x00", ""): strip_nul(v) for k, v in value.items()}
    return value
