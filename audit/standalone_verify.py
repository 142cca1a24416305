#!/usr/bin/env python3
"""Verify an exported HashInsight audit chain with nothing but the Python standard library.

Input: JSON lines, one event per line, as written by audit.export (ordered by chain, then seq):
  {"chain", "seq", "occurred_at", "actor_type", "actor_id", "actor_label", "action",
   "entity_type", "entity_id", "tenant_id", "site", "payload", "prev_hash", "hash"}
A line {"checkpoint": {"chain", "last_seq", "last_hash"}} anchors a chain whose earlier events
were purged by retention: the next event of that chain must link to it.

Each event's hash is SHA-256 over its prev_hash (64 hex characters, ASCII) followed by the
canonical JSON of the fields above except prev_hash and hash: keys sorted, no whitespace,
UTF-8, non-ASCII written as itself. A chain starts at seq 1 from 64 zeros.

Usage: python3 standalone_verify.py export.jsonl   (or - for stdin). Exit 0 on PASS, 1 on FAIL.
"""

import hashlib
import json
import sys

GENESIS = "0" * 64
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


def canonical(event: dict) -> bytes:
    body = {name: event[name] for name in FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_hash(prev_hash: str, event: dict) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(event)).hexdigest()


def verify(lines) -> tuple[list[str], dict]:
    """Returns (failure lines, {chain: (events, last seq, last hash)})."""
    failures, tips = [], {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        record = json.loads(line)
        if "checkpoint" in record:
            cp = record["checkpoint"]
            tips[cp["chain"]] = (0, cp["last_seq"], cp["last_hash"])
            continue
        chain, seq = record["chain"], record["seq"]
        count, last_seq, last_hash = tips.get(chain, (0, 0, GENESIS))
        where = f"FAIL line={number} chain={chain} seq={seq}"
        if seq != last_seq + 1:
            failures.append(f"{where} sequence gap: follows seq {last_seq}")
        elif record["prev_hash"] != last_hash:
            failures.append(f"{where} prev_hash {record['prev_hash']} != previous hash {last_hash}")
        actual = event_hash(record["prev_hash"], record)
        if actual != record["hash"]:
            failures.append(f"{where} stored hash {record['hash']} != recomputed {actual}")
        tips[chain] = (count + 1, seq, record["hash"])
    return failures, tips


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    stream = sys.stdin if argv[1] == "-" else open(argv[1], encoding="utf-8")
    with stream:
        failures, tips = verify(stream)
    for chain, (count, seq, digest) in sorted(tips.items()):
        print(f"chain={chain} events={count} last_seq={seq} last_hash={digest}")
    for failure in failures:
        print(failure)
    print("FAIL" if failures else "PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
