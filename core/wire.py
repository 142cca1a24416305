"""Bodies the edge collector sends: read raw and capped, gzip detected by its magic bytes,
decompressed with a cap, parsed as JSON (SPEC §4.1). Used by telemetry uploads and command ACKs."""

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
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"body is neither gzip nor JSON: {exc}") from exc
