"""Monthly segments: sealing into checkpoints, retention purging whole sealed segments, and
verification against the checkpoints before and after a purge."""

import datetime as dt
import json

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction

from audit.canonical import canonical_bytes, chain_hash, format_ts
from audit.models import GENESIS_HASH, AuditChain, AuditCheckpoint, AuditEvent
from audit.services import Actor, audit_purge_expired, audit_record, audit_seal_segments
from audit.tests.conftest import tamper, verify_command
from audit.verify import verify_chains

pytestmark = pytest.mark.django_db

JOB = Actor.system("test.segments")
TENANT = 7
KEY = f"tenant:{TENANT}"


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)


def append_on(day: str, count: int, tenant_id: int = TENANT) -> list[AuditEvent]:
    with time_machine.travel(at(day), tick=False):
        return [
            audit_record(
                actor=JOB,
                action="control.command.created",
                entity_type="control.command",
                entity_id=str(n),
                payload={"n": n},
                tenant_id=tenant_id,
            )
            for n in range(count)
        ]


@pytest.fixture
def three_months():
    """Events in January (3), February (2) and March (2) 2025, on one customer's chain."""
    return append_on("2025-01-15", 3), append_on("2025-02-15", 2), append_on("2025-03-15", 2)


def test_finished_months_are_sealed_once(three_months):
    jan, feb, _mar = three_months
    sealed = audit_seal_segments(now=at("2025-03-20"))

    assert [(c.chain_key, c.period_start, c.period_end, c.first_seq, c.last_seq, c.event_count) for c in sealed] == [
        (KEY, at("2025-01-01"), at("2025-02-01"), 1, 3, 3),
        (KEY, at("2025-02-01"), at("2025-03-01"), 4, 5, 2),
    ]
    assert (sealed[0].first_prev_hash, sealed[0].last_hash) == (GENESIS_HASH, jan[-1].hash)
    assert (sealed[1].first_prev_hash, sealed[1].last_hash) == (jan[-1].hash, feb[-1].hash)
    note = AuditEvent.objects.get(action="audit.segment.sealed")
    assert note.chain_key == "platform" and [s["last_seq"] for s in note.payload["segments"]] == [3, 5]

    assert audit_seal_segments(now=at("2025-03-20")) == []
    assert audit_seal_segments(now=at("2025-03-31")) == []
    assert AuditCheckpoint.objects.count() == 2
    assert AuditEvent.objects.filter(action="audit.segment.sealed").count() == 1
    assert all(r.ok for r in verify_chains([KEY, "platform"]))


def test_the_next_month_seals_from_the_last_checkpoint(three_months):
    with time_machine.travel(at("2025-03-20"), tick=False):
        audit_seal_segments()
    with time_machine.travel(at("2025-04-02"), tick=False):
        sealed = audit_seal_segments()
    assert {(c.chain_key, c.first_seq, c.last_seq) for c in sealed} == {(KEY, 6, 7), ("platform", 1, 1)}
    assert AuditCheckpoint.objects.filter(chain_key=KEY).count() == 3


def test_a_sealed_checkpoint_cannot_be_rewritten(three_months):
    (cp, *_) = audit_seal_segments(now=at("2025-03-20"))
    with pytest.raises(Exception, match="pgtrigger: Cannot update"), transaction.atomic():
        AuditCheckpoint.objects.filter(pk=cp.pk).update(last_hash="f" * 64)
    with pytest.raises(Exception, match="pgtrigger: Cannot delete"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM audit_auditcheckpoint")
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditCheckpoint.objects.create(
            chain_key=KEY,
            period_start=cp.period_start,
            period_end=cp.period_end,
            first_seq=1,
            last_seq=3,
            event_count=3,
            first_prev_hash=GENESIS_HASH,
            last_hash="f" * 64,
            sealed_at=cp.sealed_at,
        )


def test_purge_removes_only_whole_expired_sealed_segments(three_months):
    jan, feb, mar = three_months
    audit_seal_segments(now=at("2025-03-20"))

    # 40 days before 2025-03-20 is 2025-02-08: January has ended by then, February has not.
    with time_machine.travel(at("2025-03-20"), tick=False):
        removed = audit_purge_expired(now=at("2025-03-20"), retention_days=40)

    assert removed == 3
    assert list(AuditEvent.objects.filter(chain_key=KEY).values_list("seq", flat=True)) == [4, 5, 6, 7]
    jan_cp, feb_cp = AuditCheckpoint.objects.filter(chain_key=KEY)
    assert (jan_cp.purged_at, feb_cp.purged_at) == (at("2025-03-20"), None)
    note = AuditEvent.objects.get(action="audit.segment.purged")
    assert (note.chain_key, note.actor_id) == ("platform", "audit.retention")
    assert note.payload == {
        "retention_days": 40,
        "events_removed": 3,
        "segments": [{"chain": KEY, "first_seq": 1, "last_seq": 3, "period_start": format_ts(at("2025-01-01"))}],
    }

    result = verify_chains([KEY])[0]
    assert result.ok and (result.events, result.first_seq, result.last_seq) == (4, 4, 7)
    code, out = verify_command()
    assert code == 0 and f"PASS chain={KEY} events=4 seq=4..7 head_hash={mar[-1].hash}" in out

    assert audit_purge_expired(now=at("2025-03-20"), retention_days=40) == 0
    assert AuditEvent.objects.filter(action="audit.segment.purged").count() == 1


def test_an_unsealed_old_month_is_never_purged():
    append_on("2025-01-15", 2)
    audit_seal_segments(now=at("2025-02-02"))
    feb = append_on("2025-02-15", 2)

    removed = audit_purge_expired(now=at("2026-06-01"), retention_days=90)

    assert removed == 2
    assert list(AuditEvent.objects.filter(chain_key=KEY).values_list("seq", flat=True)) == [3, 4]
    assert (
        AuditEvent.objects.get(chain_key=KEY, seq=3).prev_hash == AuditCheckpoint.objects.get(chain_key=KEY).last_hash
    )
    assert verify_chains([KEY])[0].ok
    assert feb[0].pk in set(AuditEvent.objects.values_list("pk", flat=True))


def test_purge_uses_the_retention_setting_by_default(three_months, settings):
    settings.AUDIT_RETENTION_DAYS = 365
    audit_seal_segments(now=at("2025-03-20"))
    assert audit_purge_expired(now=at("2025-12-31")) == 0
    assert audit_purge_expired(now=at("2026-02-01")) == 3


def test_deleting_a_purged_segment_survivor_breaks_the_link_to_the_checkpoint(three_months):
    jan, feb, _mar = three_months
    audit_seal_segments(now=at("2025-03-20"))
    audit_purge_expired(now=at("2025-03-20"), retention_days=40)
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [feb[0].pk])

    (sealed, brk) = verify_chains([KEY])[0].breaks
    assert (sealed.event_id, sealed.seq, sealed.reason) == (
        None,
        4,
        "sealed segment does not start where its checkpoint says",
    )
    assert (brk.event_id, brk.seq, brk.expected_prev_hash) == (feb[1].pk, 5, jan[-1].hash)
    assert brk.reason == "sequence gap: seq 5 follows seq 3 (rows deleted or inserted)"


def rewrite_chain(key: str, from_seq: int, payload: dict) -> None:
    """A forger with database access: change one event, then recompute every hash after it and
    the head, so that the chain itself links again from genesis to head."""
    prev = None
    for event in AuditEvent.objects.filter(chain_key=key, seq__gte=from_seq).order_by("seq"):
        prev = prev or event.prev_hash
        content = payload if event.seq == from_seq else event.payload
        digest = chain_hash(
            prev,
            canonical_bytes(
                chain=key,
                seq=event.seq,
                occurred_at=event.occurred_at,
                actor_type=event.actor_type,
                actor_id=event.actor_id,
                actor_label=event.actor_label,
                action=event.action,
                entity_type=event.entity_type,
                entity_id=event.entity_id,
                tenant_id=event.tenant_id,
                site=event.site_code,
                payload=content,
            ),
        )
        tamper(
            "UPDATE audit_auditevent SET payload = %s::jsonb, prev_hash = %s, hash = %s WHERE id = %s",
            [json.dumps(content), prev, digest, event.pk],
        )
        prev = digest
    tamper("UPDATE audit_auditchain SET head_hash = %s WHERE key = %s", [prev, key])


def test_consistent_rewrite_inside_a_sealed_segment_is_caught_by_its_checkpoint(three_months):
    jan, feb, mar = three_months
    audit_seal_segments(now=at("2025-03-20"))
    rewrite_chain(KEY, 2, {"n": 1000})
    assert AuditChain.objects.get(key=KEY).head_hash != mar[-1].hash

    breaks = verify_chains([KEY])[0].breaks
    assert [(b.event_id, b.seq, b.reason) for b in breaks] == [
        (jan[-1].pk, 3, "sealed segment differs from its checkpoint"),
        (feb[0].pk, 4, "sealed segment does not start where its checkpoint says"),
        (feb[-1].pk, 5, "sealed segment differs from its checkpoint"),
    ]
    assert breaks[0].expected_hash == jan[-1].hash
    assert breaks[0].actual_hash == AuditEvent.objects.get(pk=jan[-1].pk).hash
    code, out = verify_command()
    assert (
        code == 1
        and f"FAIL chain={KEY} event_id={jan[-1].pk} seq=3 reason=sealed segment differs from its checkpoint" in out
    )


def test_tampering_inside_a_sealed_segment_is_located(three_months):
    jan, _feb, _mar = three_months
    audit_seal_segments(now=at("2025-03-20"))
    tamper("UPDATE audit_auditevent SET payload = '{\"n\": 5}' WHERE id = %s", [jan[1].pk])
    (brk,) = verify_chains([KEY])[0].breaks
    assert (brk.event_id, brk.reason) == (jan[1].pk, "hash does not match the event's content")
