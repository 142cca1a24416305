#!/usr/bin/env python3
"""Verify a HashInsight evidence pack with nothing but the Python standard library.

    python3 verify.py            (the pack extracted: checks the directory this file is in)
    python3 verify.py PACK.zip   (or a directory holding an extracted pack)

1. Every file listed in manifest.json exists and has the SHA-256 and size the manifest gives, and
   the pack holds no file the manifest does not list.
2. Every audit chain file (manifest "audit_chains") links up: the first event's prev_hash is the
   anchor (the hash of the event before the period, a checkpoint's, or 64 zeros at genesis), each
   event follows the one before (seq + 1, prev_hash = its hash), and the last one is the seq and
   hash the manifest gives. A full event's hash is recomputed: SHA-256 over its prev_hash (64 hex
   characters, ASCII) followed by the canonical JSON of its fields (keys sorted, no whitespace,
   UTF-8, non-ASCII written as itself) — the rules of audit/canonical.py. A stub (another scope's
   event: seq, prev_hash and hash only) is checked for its links alone.

Prints one line per problem, then PASS or FAIL. Exit status 0 on PASS, 1 on FAIL.
"""

import hashlib
import json
import os
import sys
import zipfile

MANIFEST = "manifest.json"
FIELDS = (
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


def canonical(event):
    body = {name: event[name] for name in FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_hash(prev_hash, event):
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(event)).hexdigest()


class Pack:
    """The pack's files, from a zip or a directory."""

    def __init__(self, where):
        self.zip = zipfile.ZipFile(where) if os.path.isfile(where) else None
        self.root = where

    def names(self):
        if self.zip is not None:
            return [n for n in self.zip.namelist() if not n.endswith("/")]
        out = []
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                if name == "__pycache__" or "__pycache__" in folder:
                    continue
                out.append(os.path.relpath(os.path.join(folder, name), self.root).replace(os.sep, "/"))
        return out

    def open(self, name):
        if self.zip is not None:
            return self.zip.open(name)
        return open(os.path.join(self.root, *name.split("/")), "rb")


def check_files(pack, manifest, problems):
    listed = {}
    for entry in manifest["files"]:
        listed[entry["path"]] = entry
        digest, size = hashlib.sha256(), 0
        try:
            with pack.open(entry["path"]) as stream:
                for block in iter(lambda s=stream: s.read(1 << 16), b""):
                    digest.update(block)
                    size += len(block)
        except (OSError, KeyError):
            problems.append(f"file {entry['path']}: missing")
            continue
        if digest.hexdigest() != entry["sha256"]:
            problems.append(f"file {entry['path']}: sha256 {digest.hexdigest()} != manifest {entry['sha256']}")
        elif size != entry["bytes"]:
            problems.append(f"file {entry['path']}: {size} bytes != manifest {entry['bytes']}")
    for name in pack.names():
        if name != MANIFEST and name not in listed:
            problems.append(f"file {name}: not listed in the manifest")


def check_chain(pack, spec, problems):
    where = f"chain {spec['chain']} ({spec['path']})"
    last_seq, last_hash, count = spec["first_seq"] - 1, spec["anchor_hash"], 0
    try:
        stream = pack.open(spec["path"])
    except (OSError, KeyError):
        problems.append(f"{where}: file missing")
        return
    with stream:
        for number, raw in enumerate(stream, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
                seq, prev, stored = record["seq"], record["prev_hash"], record["hash"]
            except (ValueError, KeyError, TypeError):
                problems.append(f"{where} line {number}: not an event")
                return
            if record.get("chain", spec["chain"]) != spec["chain"]:
                problems.append(f"{where} line {number} seq={seq}: belongs to chain {record.get('chain')}")
            if seq != last_seq + 1:
                problems.append(f"{where} line {number} seq={seq}: sequence break, follows seq {last_seq}")
            elif prev != last_hash:
                problems.append(f"{where} line {number} seq={seq}: prev_hash {prev} != previous hash {last_hash}")
            if not record.get("stub"):
                try:
                    actual = event_hash(prev, record)
                except (KeyError, TypeError, UnicodeError, AttributeError):
                    actual = "(fields missing)"
                if actual != stored:
                    problems.append(f"{where} line {number} seq={seq}: stored hash {stored} != recomputed {actual}")
            last_seq, last_hash, count = seq, stored, count + 1
    if count != spec["events"]:
        problems.append(f"{where}: {count} events != manifest {spec['events']}")
    if (last_seq, last_hash) != (spec["last_seq"], spec["last_hash"]):
        problems.append(
            f"{where}: ends at seq {last_seq} hash {last_hash}, manifest says seq {spec['last_seq']} "
            f"hash {spec['last_hash']}"
        )


def verify(where):
    problems = []
    pack = Pack(where)
    try:
        with pack.open(MANIFEST) as stream:
            manifest = json.loads(stream.read().decode("utf-8"))
        files, chains = manifest["files"], manifest["audit_chains"]
    except (OSError, KeyError, ValueError, TypeError):
        return ["manifest.json: missing or not a valid manifest"], None
    try:
        check_files(pack, manifest, problems)
        for spec in chains:
            check_chain(pack, spec, problems)
    except (KeyError, TypeError, ValueError) as exc:
        problems.append(f"manifest.json: malformed ({exc.__class__.__name__}: {exc})")
    return problems, {"files": len(files), "chains": len(chains)}


def main(argv):
    where = argv[1] if len(argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    problems, counts = verify(where)
    if counts:
        print(f"checked files={counts['files']} chains={counts['chains']}")
    for line in problems:
        print(f"FAIL {line}")
    print("FAIL" if problems else "PASS")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
