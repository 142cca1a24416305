"""Export a chain as JSON lines that audit/standalone_verify.py checks with the stdlib alone."""

from typing import BinaryIO

import orjson
from django.db import connection, transaction

from audit.models import AuditCheckpoint
from audit.verify import EVENTS_SQL

_FIELDS = (
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
)


def audit_chain_export(*, chain_key: str, out: BinaryIO, first_seq: int = 1, last_seq: int | None = None) -> int:
    """Write seqs first_seq..last_seq of one chain to `out`; returns the number of events.

    When the range starts right after a purged (or any sealed) segment, its checkpoint is written
    first, so the verifier can link the first exported event to it.
    """
    anchor = AuditCheckpoint.objects.filter(chain_key=chain_key, last_seq=first_seq - 1).first()
    if anchor is not None:
        out.write(
            orjson.dumps(
                {"checkpoint": {"chain": chain_key, "last_seq": anchor.last_seq, "last_hash": anchor.last_hash}}
            )
            + b"\n"
        )
    count = 0
    # A server-side cursor inside one transaction: bounded memory, one consistent snapshot.
    connection.ensure_connection()
    with transaction.atomic(), connection.connection.cursor(name=f"audit_export_{id(out)}") as cur:
        cur.itersize = 5000
        cur.execute(EVENTS_SQL, [chain_key, first_seq, last_seq if last_seq is not None else 2**62])
        for _id, seq, ts, *rest, payload, prev, digest in cur:
            record = dict(zip(_FIELDS, (chain_key, seq, ts, *rest), strict=True))
            record.update(payload=orjson.loads(payload), prev_hash=prev, hash=digest)
            out.write(orjson.dumps(record) + b"\n")
            count += 1
    return count
