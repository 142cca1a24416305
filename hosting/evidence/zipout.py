"""Writing a pack: entries streamed into a zip on disk, each hashed (SHA-256) and sized as it is
written, so a file of millions of rows never sits in memory."""

import csv
import datetime as dt
import hashlib
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass

import orjson


def ts(value: dt.datetime | None) -> str:
    """UTC, whole seconds: the one timestamp format of every CSV in a pack (SQL_TS in SQL)."""
    if value is None:
        return ""
    if value.utcoffset():
        value = value.astimezone(dt.UTC)
    return value.isoformat(timespec="seconds")[:19] + "Z"  # isoformat: a fraction of strftime's cost


SQL_TS = """to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


def num(value, digits: int = 3):
    return "" if value is None else round(float(value), digits)


@dataclass
class Entry:
    path: str
    sha256: str
    bytes: int
    rows: int | None = None

    def as_manifest(self) -> dict:
        out = {"path": self.path, "sha256": self.sha256, "bytes": self.bytes}
        if self.rows is not None:
            out["rows"] = self.rows
        return out


class _Sink:
    """What csv.writer and the JSON-lines writers write into: hashes, counts, passes on — in blocks
    of FLUSH_BYTES, since a hash update and a compressor call per row cost more than the row."""

    FLUSH_BYTES = 1 << 18

    def __init__(self, stream):
        self.stream = stream
        self.digest = hashlib.sha256()
        self.size = 0
        self.rows = 0
        self._parts: list[bytes] = []
        self._pending = 0

    def write_bytes(self, data: bytes) -> None:
        self._parts.append(data)
        self._pending += len(data)
        if self._pending >= self.FLUSH_BYTES:
            self.flush()

    def write(self, text: str) -> None:  # csv.writer's interface: one call per row
        self.write_bytes(text.encode("utf-8"))

    def flush(self) -> None:
        if self._parts:
            data = b"".join(self._parts)
            self._parts, self._pending = [], 0
            self.digest.update(data)
            self.size += len(data)
            self.stream.write(data)


class CsvOut:
    def __init__(self, sink: _Sink):
        self._sink = sink
        self._writer = csv.writer(sink, lineterminator="\n")

    def row(self, values) -> None:
        self._writer.writerow(values)
        self._sink.rows += 1


class JsonLinesOut:
    def __init__(self, sink: _Sink):
        self._sink = sink

    def row(self, record: dict) -> None:
        self._sink.write_bytes(orjson.dumps(record) + b"\n")
        self._sink.rows += 1

    def raw(self, line: bytes) -> None:
        self._sink.write_bytes(line + b"\n")
        self._sink.rows += 1


class PackZip:
    """A zip being written entry by entry; `entries` lists what the manifest will hash."""

    def __init__(self, fileobj):
        self.zip = zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6)
        self.entries: list[Entry] = []

    @contextmanager
    def _open(self, path: str, rows: bool):
        info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        with self.zip.open(info, "w", force_zip64=True) as stream:
            sink = _Sink(stream)
            yield sink
            sink.flush()
        self.entries.append(Entry(path, sink.digest.hexdigest(), sink.size, sink.rows if rows else None))

    @contextmanager
    def csv(self, path: str, header: list[str]):
        """Rows counted without the header line."""
        with self._open(path, rows=True) as sink:
            out = CsvOut(sink)
            csv.writer(sink, lineterminator="\n").writerow(header)
            yield out

    @contextmanager
    def jsonl(self, path: str):
        with self._open(path, rows=True) as sink:
            yield JsonLinesOut(sink)

    def json(self, path: str, obj) -> Entry:
        with self._open(path, rows=False) as sink:
            sink.write_bytes(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        return self.entries[-1]

    def text(self, path: str, text: str | bytes) -> Entry:
        with self._open(path, rows=False) as sink:
            sink.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        return self.entries[-1]

    def close(self) -> None:
        self.zip.close()
