"""audit_deferred(): appends made inside the block are written together as it ends, in order;
none is allowed inside a savepoint opened within it; the chain head is not held before the block
ends (real threads on real connections)."""

import threading

import pytest
from django.db import connection, transaction

from audit.models import AuditChain, AuditEvent
from audit.services import Actor, EventSpec, audit_deferred, audit_record, audit_record_many
from audit.verify import verify_chains

ACTOR = Actor.system("test.deferred")


def actions(chain="tenant:1"):
    return list(AuditEvent.objects.filter(chain_key=chain).order_by("seq").values_list("action", flat=True))


@pytest.mark.django_db
def test_events_are_written_as_the_block_ends_in_their_order():
    with transaction.atomic():
        with audit_deferred():
            audit_record(actor=ACTOR, action="t.a", entity_type="t.x", entity_id="1", tenant_id=1)
            audit_record_many(
                actor=Actor.system("other"),
                events=[EventSpec("t.b", "t.x", "1", {}, tenant_id=1), EventSpec("t.c", "t.x", "1", {}, site_code="S")],
            )
            assert AuditEvent.objects.count() == 0
        assert actions() == ["t.a", "t.b"] and actions("site:S") == ["t.c"]
    assert AuditEvent.objects.get(action="t.b").actor_id == "other"
    assert all(r.ok for r in verify_chains(["tenant:1", "site:S"]))


@pytest.mark.django_db
def test_an_append_inside_a_savepoint_opened_in_the_block_is_refused():
    """Its events could not follow the savepoint if it were rolled back, nor keep their order if
    written at once; a nested atomic(savepoint=False), which cannot be rolled back alone, is fine."""
    with transaction.atomic():
        with audit_deferred():
            audit_record(actor=ACTOR, action="t.before", entity_type="t.x", entity_id="1", tenant_id=1)
            with pytest.raises(RuntimeError, match="savepoint"), transaction.atomic():
                audit_record(actor=ACTOR, action="t.inside", entity_type="t.x", entity_id="1", tenant_id=1)
            with transaction.atomic(savepoint=False):
                audit_record(actor=ACTOR, action="t.after", entity_type="t.x", entity_id="1", tenant_id=1)
    assert actions() == ["t.before", "t.after"]
    assert verify_chains(["tenant:1"])[0].ok


@pytest.mark.django_db
def test_a_failing_block_writes_nothing_and_later_appends_are_immediate_again():
    with pytest.raises(ValueError), transaction.atomic():
        with audit_deferred():
            audit_record(actor=ACTOR, action="t.lost", entity_type="t.x", entity_id="1", tenant_id=1)
            raise ValueError
    assert actions() == []
    assert audit_record(actor=ACTOR, action="t.now", entity_type="t.x", entity_id="1", tenant_id=1).seq == 1


@pytest.mark.django_db(transaction=True)
def test_the_block_needs_a_transaction():
    with pytest.raises(RuntimeError, match="open transaction"), audit_deferred():
        pass


@pytest.mark.django_db
def test_its_events_cannot_be_read_before_the_block_ends():
    with transaction.atomic(), audit_deferred():
        assert audit_record(actor=ACTOR, action="t.a", entity_type="t.x", entity_id="1", tenant_id=1) is None
        rows = audit_record_many(actor=ACTOR, events=[EventSpec("t.a", "t.x", "1", {}, tenant_id=1)])
        with pytest.raises(RuntimeError, match="when the block ends"):
            rows[0]


@pytest.mark.django_db(transaction=True)
def test_the_chain_head_is_free_until_the_block_ends():
    """A transaction that has queued events does not hold the head: another append to the same
    chain commits meanwhile, and the queued events follow it in the chain."""
    audit_record(actor=ACTOR, action="t.first", entity_type="t.x", entity_id="1", tenant_id=1)
    queued, other_done, errors = threading.Event(), threading.Event(), []

    def deferring():
        try:
            with transaction.atomic(), audit_deferred():
                audit_record(actor=ACTOR, action="t.deferred", entity_type="t.x", entity_id="1", tenant_id=1)
                queued.set()
                assert other_done.wait(10), "the other append waited for this transaction"
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def appending():
        try:
            assert queued.wait(10)
            with transaction.atomic():
                with connection.cursor() as cur:
                    cur.execute("SET LOCAL lock_timeout = '2s'")  # a held head would fail this append
                audit_record(actor=ACTOR, action="t.meanwhile", entity_type="t.x", entity_id="1", tenant_id=1)
            other_done.set()
        except BaseException as exc:
            errors.append(exc)
            other_done.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=deferring), threading.Thread(target=appending)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert actions() == ["t.first", "t.meanwhile", "t.deferred"]
    assert AuditChain.objects.get(key="tenant:1").head_seq == 3 and verify_chains(["tenant:1"])[0].ok
