import pytest
from django.db import connection

from audit.models import AuditEvent
from audit.models.chain import AppendOnlyError
from audit.services import Actor, EventSpec, audit_record, audit_record_many
from audit.verify import verify_chains

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("test")


def test_events_of_one_chain_link_by_hash():
    first = audit_record(actor=SYSTEM, action="t.thing.created", entity_type="t.thing", entity_id="1", payload={"n": 1})
    second = audit_record(
        actor=SYSTEM, action="t.thing.updated", entity_type="t.thing", entity_id="1", payload={"n": 2.5}
    )
    assert (first.seq, second.seq) == (1, 2)
    assert second.prev_hash == first.hash
    assert second.payload == {"n": "2.5"}  # floats are stored as strings: the canonical form has none
    assert verify_chains(["platform"])[0].ok


def test_model_refuses_update_and_delete():
    event = audit_record(actor=SYSTEM, action="t.x.created", entity_type="t.x", entity_id="1")
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")


@pytest.mark.parametrize(
    "sql", ["UPDATE audit_auditevent SET action = 'x'", "DELETE FROM audit_auditevent", "TRUNCATE audit_auditevent"]
)
def test_database_refuses_rewrites(sql):
    audit_record(actor=SYSTEM, action="t.x.created", entity_type="t.x", entity_id="1")
    with pytest.raises(Exception, match="pgtrigger: Cannot"), connection.cursor() as cur:
        cur.execute(sql)


def test_many_events_go_to_their_own_chains():
    rows = audit_record_many(
        actor=SYSTEM,
        events=[
            EventSpec("t.a", "t.x", "1", {}, tenant_id=7),
            EventSpec("t.b", "t.x", "2", {}, site_code="S1"),
            EventSpec("t.c", "t.x", "3", {}, tenant_id=7),
        ],
    )
    assert [(r.chain_key, r.seq) for r in rows] == [("site:S1", 1), ("tenant:7", 1), ("tenant:7", 2)]


def test_the_returned_rows_are_the_stored_rows_and_hash_as_the_canonical_form_says():
    """audit_append() numbers and hashes in the database; what it returns, what it stored and what
    audit.canonical computes from the stored fields are the same."""
    from audit.canonical import canonical_bytes, chain_hash

    specs = [
        EventSpec("t.m", "t.x", str(n), {"n": n, "f": 0.5, "s": "ü\n"}, tenant_id=n % 3 or None, site_code="S1")
        for n in range(12)
    ]
    rows = audit_record_many(actor=SYSTEM, events=specs)
    assert len(rows) == 12 and [r.chain_key for r in rows] == sorted(r.chain_key for r in rows)
    stored = AuditEvent.objects.in_bulk([r.pk for r in rows])
    for row in rows:
        kept = stored[row.pk]
        assert row.canonical_fields() == kept.canonical_fields() and (row.prev_hash, row.hash) == (
            kept.prev_hash,
            kept.hash,
        )
        assert kept.hash == chain_hash(kept.prev_hash, canonical_bytes(**kept.canonical_fields()))
    assert all(r.ok for r in verify_chains(sorted({r.chain_key for r in rows})))
