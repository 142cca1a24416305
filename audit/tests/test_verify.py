"""Tampering by raw SQL with the triggers off is detected and located, by verify_chains and by
`manage.py verify_audit_chain`; an untouched chain passes, and the filters pick what is verified."""

import datetime as dt
import re

import pytest
import time_machine
from django.core.management.base import CommandError

from audit.canonical import canonical_bytes, chain_hash, format_ts
from audit.models import AuditChain, AuditEvent
from audit.services import Actor, EventSpec, audit_record, audit_record_many, chain_key_for
from audit.tests.conftest import fail_lines, tamper, verify_command
from audit.verify import verify_chains
from tests.factories import SiteFactory, TenantFactory

pytestmark = pytest.mark.django_db

NOC = Actor("user", "42", "noc-x")
HEX64 = re.compile(r"[0-9a-f]{64}")


@pytest.fixture
def chain():
    """Six events on one customer's chain, plus one site event and one platform event."""
    tenant = TenantFactory(slug="acme")
    SiteFactory(code="SITE-X")
    events = audit_record_many(
        actor=NOC,
        events=[
            EventSpec(f"control.command.step{n}", "control.command", str(n), {"n": n}, tenant_id=tenant.pk)
            for n in range(1, 7)
        ],
    )
    audit_record(
        actor=NOC, action="tenants.site.updated", entity_type="tenants.site", entity_id="SITE-X", site_code="SITE-X"
    )
    audit_record(actor=NOC, action="tenants.user.created", entity_type="auth.user", entity_id="9")
    return tenant, events


def rehash(event: AuditEvent, **changes) -> str:
    """The SHA-256 an event would have with `changes` to its stored content."""
    fields = event.canonical_fields() | changes
    return chain_hash(
        changes.get("prev_hash", event.prev_hash),
        canonical_bytes(**{k: v for k, v in fields.items() if k != "prev_hash"}),
    )


def only_result(tenant):
    (result,) = verify_chains([chain_key_for(tenant_id=tenant.pk)])
    return result


def assert_command_locates(*expected: dict) -> None:
    """The command exits 1 and prints one FAIL line per break, naming each given field."""
    code, out = verify_command()
    assert code == 1
    lines = fail_lines(out)
    assert len(lines) == len(expected), out
    for line, fields in zip(lines, expected, strict=True):
        for name, value in fields.items():
            assert f" {name}={value} " in f" {line} ", (name, value, line)
    assert out.splitlines()[-1].startswith("FAIL chains=3 ")
    assert "PASS chain=platform " in out and "PASS chain=site:SITE-X " in out


def test_untampered_chains_pass(chain):
    tenant, events = chain
    code, out = verify_command()
    assert code == 0
    assert f"PASS chain=tenant:{tenant.pk} events=6 seq=1..6 head_hash={events[-1].hash}" in out
    assert "PASS chain=site:SITE-X events=1 " in out
    assert out.splitlines()[-1] == "PASS chains=3 events=8"
    assert not fail_lines(out)


def test_payload_byte_change_is_located(chain):
    tenant, events = chain
    victim = events[2]
    tamper("UPDATE audit_auditevent SET payload = '{\"n\": 4}' WHERE id = %s", [victim.pk])
    forged = rehash(victim, payload={"n": 4})

    (brk,) = only_result(tenant).breaks
    assert (brk.event_id, brk.seq, brk.reason) == (victim.pk, 3, "hash does not match the event's content")
    assert (brk.stored_prev_hash, brk.expected_hash, brk.actual_hash) == (victim.prev_hash, victim.hash, forged)
    assert_command_locates(
        {
            "event_id": victim.pk,
            "seq": 3,
            "stored_prev_hash": victim.prev_hash,
            "expected_hash": victim.hash,
            "actual_hash": forged,
        }
    )


def test_hash_column_change_is_located(chain):
    tenant, events = chain
    victim, after = events[2], events[3]
    tamper("UPDATE audit_auditevent SET hash = %s WHERE id = %s", ["f" * 64, victim.pk])

    content, link = only_result(tenant).breaks
    assert (content.event_id, content.expected_hash, content.actual_hash) == (victim.pk, "f" * 64, victim.hash)
    assert (link.event_id, link.reason) == (after.pk, "prev_hash does not match the previous event's hash")
    assert (link.stored_prev_hash, link.expected_prev_hash) == (victim.hash, "f" * 64)
    assert_command_locates(
        {
            "event_id": victim.pk,
            "stored_prev_hash": victim.prev_hash,
            "expected_hash": "f" * 64,
            "actual_hash": victim.hash,
        },
        {
            "event_id": after.pk,
            "stored_prev_hash": victim.hash,
            "expected_prev_hash": "f" * 64,
            "expected_hash": after.hash,
        },
    )


def test_deleted_row_mid_chain_is_located(chain):
    tenant, events = chain
    assert tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[2].pk]) == 1

    (brk,) = only_result(tenant).breaks
    assert (brk.event_id, brk.seq) == (events[3].pk, 4)
    assert brk.reason.startswith("sequence gap: seq 4 follows seq 2")
    assert (brk.stored_prev_hash, brk.expected_prev_hash) == (events[2].hash, events[1].hash)
    assert_command_locates(
        {
            "event_id": events[3].pk,
            "seq": 4,
            "stored_prev_hash": events[2].hash,
            "expected_prev_hash": events[1].hash,
            "expected_hash": events[3].hash,
            "actual_hash": events[3].hash,
        }
    )


def test_swapped_row_contents_are_located(chain):
    tenant, events = chain
    a, b = events[1], events[3]
    tamper(
        "UPDATE audit_auditevent AS e SET action = o.action, entity_id = o.entity_id, payload = o.payload "
        "FROM audit_auditevent AS o WHERE (e.id, o.id) IN ((%s, %s), (%s, %s))",
        [a.pk, b.pk, b.pk, a.pk],
    )
    assert AuditEvent.objects.get(pk=a.pk).payload == {"n": 4}

    breaks = only_result(tenant).breaks
    assert [(x.event_id, x.reason) for x in breaks] == [
        (a.pk, "hash does not match the event's content"),
        (b.pk, "hash does not match the event's content"),
    ]
    swapped = {"action": b.action, "entity_id": b.entity_id, "payload": b.payload}
    assert breaks[0].actual_hash == rehash(a, **swapped)
    assert_command_locates(
        {
            "event_id": a.pk,
            "seq": 2,
            "stored_prev_hash": a.prev_hash,
            "expected_hash": a.hash,
            "actual_hash": rehash(a, **swapped),
        },
        {"event_id": b.pk, "seq": 4, "stored_prev_hash": b.prev_hash, "expected_hash": b.hash},
    )


def test_row_inserted_mid_chain_is_located(chain):
    """A forged event with a valid hash slid in at seq 4: the events behind it had to move, and
    their seq is part of what their hashes cover."""
    tenant, events = chain
    tamper("UPDATE audit_auditevent SET seq = -seq WHERE chain_key = %s AND seq >= 4", [f"tenant:{tenant.pk}"])
    tamper("UPDATE audit_auditevent SET seq = 1 - seq WHERE chain_key = %s AND seq < 0", [f"tenant:{tenant.pk}"])
    template = events[3]
    forged_hash = rehash(template, seq=4, prev_hash=events[2].hash, payload={"n": 99})
    tamper(
        "INSERT INTO audit_auditevent (chain_key, seq, occurred_at, actor_type, actor_id, actor_label, action, entity_type, "
        "entity_id, tenant_id, site_code, payload, prev_hash, hash) SELECT chain_key, 4, occurred_at, actor_type, actor_id, "
        "actor_label, action, entity_type, entity_id, tenant_id, site_code, '{\"n\": 99}', %s, %s FROM audit_auditevent WHERE id = %s",
        [events[2].hash, forged_hash, template.pk],
    )
    forged = AuditEvent.objects.get(chain_key=f"tenant:{tenant.pk}", seq=4)
    assert forged.hash == forged_hash

    breaks = only_result(tenant).breaks
    moved = [b for b in breaks if b.event_id == template.pk]
    assert {b.reason for b in moved} == {
        "prev_hash does not match the previous event's hash",
        "hash does not match the event's content",
    }
    assert all(b.seq == 5 for b in moved)
    assert forged.pk not in {b.event_id for b in breaks[:-1]}  # the forgery itself links; what follows it does not
    code, out = verify_command()
    assert code == 1
    assert any(
        f"event_id={template.pk} seq=5 reason=prev_hash" in line and f"expected_prev_hash={forged_hash}" in line
        for line in fail_lines(out)
    )


def test_row_added_behind_the_head_is_located(chain):
    tenant, events = chain
    last = events[-1]
    forged_hash = rehash(last, seq=7, prev_hash=last.hash)
    tamper(
        "INSERT INTO audit_auditevent (chain_key, seq, occurred_at, actor_type, actor_id, actor_label, action, entity_type, "
        "entity_id, tenant_id, site_code, payload, prev_hash, hash) SELECT chain_key, 7, occurred_at, actor_type, actor_id, "
        "actor_label, action, entity_type, entity_id, tenant_id, site_code, payload, %s, %s FROM audit_auditevent WHERE id = %s",
        [last.hash, forged_hash, last.pk],
    )
    forged = AuditEvent.objects.get(chain_key=last.chain_key, seq=7)

    (brk,) = only_result(tenant).breaks
    assert (brk.event_id, brk.seq, brk.expected_hash, brk.actual_hash) == (forged.pk, 7, last.hash, forged_hash)
    assert brk.reason.startswith("chain head (seq 6) does not match the last stored event (seq 7)")
    assert_command_locates(
        {
            "event_id": forged.pk,
            "seq": 7,
            "stored_prev_hash": last.hash,
            "expected_hash": last.hash,
            "actual_hash": forged_hash,
        }
    )


def test_truncated_tail_is_located_against_the_head(chain):
    tenant, events = chain
    assert tamper("DELETE FROM audit_auditevent WHERE id IN (%s, %s)", [events[4].pk, events[5].pk]) == 2
    assert AuditChain.objects.get(key=f"tenant:{tenant.pk}").head_hash == events[5].hash

    (brk,) = only_result(tenant).breaks
    assert (brk.event_id, brk.seq, brk.expected_hash, brk.actual_hash) == (
        events[3].pk,
        4,
        events[5].hash,
        events[3].hash,
    )
    assert brk.reason.startswith("chain head (seq 6) does not match the last stored event (seq 4)")
    assert_command_locates(
        {
            "event_id": events[3].pk,
            "seq": 4,
            "stored_prev_hash": events[3].prev_hash,
            "expected_hash": events[5].hash,
            "actual_hash": events[3].hash,
        }
    )


def test_deleted_head_row_does_not_hide_a_chain(chain):
    tenant, events = chain
    tamper("DELETE FROM audit_auditchain WHERE key = %s", [f"tenant:{tenant.pk}"])

    (brk,) = only_result(tenant).breaks
    assert (brk.event_id, brk.expected_hash, brk.actual_hash) == (events[-1].pk, "0" * 64, events[-1].hash)
    code, out = verify_command()
    assert code == 1 and f"FAIL chain=tenant:{tenant.pk} event_id={events[-1].pk} seq=6 " in out


def test_tenant_filter_verifies_only_that_chain(chain):
    tenant, events = chain
    tamper("UPDATE audit_auditevent SET payload = '{\"x\": 1}' WHERE chain_key = 'platform'")
    for value in (tenant.slug, str(tenant.pk)):
        code, out = verify_command("--tenant", value)
        assert code == 0
        assert out.splitlines() == [
            f"PASS chain=tenant:{tenant.pk} events=6 seq=1..6 head_hash={events[-1].hash}",
            "PASS chains=1 events=6",
        ]
    assert verify_command()[0] == 1


def test_site_filter_verifies_only_that_chain(chain):
    code, out = verify_command("--site", "SITE-X")
    assert code == 0
    assert out.splitlines()[0].startswith("PASS chain=site:SITE-X events=1 seq=1..1 ")
    assert out.splitlines()[-1] == "PASS chains=1 events=1"


def test_unknown_tenant_or_site_is_an_error(chain):
    with pytest.raises(CommandError, match="no tenant"):
        verify_command("--tenant", "nobody")
    with pytest.raises(CommandError, match="no site"):
        verify_command("--site", "SITE-NOPE")


def test_time_window_verifies_events_inside_it():
    tenant = TenantFactory(slug="windowed")
    stamps = ["2025-01-10T12:00:00Z", "2025-02-10T12:00:00Z", "2025-03-10T12:00:00Z", "2025-04-10T12:00:00Z"]
    events = []
    for stamp in stamps:
        with time_machine.travel(stamp, tick=False):
            events.append(
                audit_record(
                    actor=NOC, action="tenants.miner.updated", entity_type="m", entity_id="1", tenant_id=tenant.pk
                )
            )
    assert format_ts(events[1].occurred_at) == "2025-02-10T12:00:00.000000Z"
    tamper("UPDATE audit_auditevent SET payload = '{\"x\": 1}' WHERE id = %s", [events[0].pk])

    code, out = verify_command("--tenant", tenant.slug, "--from", "2025-02-01", "--to", "2025-04-01")
    assert code == 0
    assert out.splitlines()[0] == f"PASS chain=tenant:{tenant.pk} events=2 seq=2..3 head_hash={events[2].hash}"

    code, out = verify_command("--tenant", tenant.slug, "--from", "2025-02-01T00:00:00+00:00")
    assert (code, out.splitlines()[-1]) == (0, "PASS chains=1 events=3")

    code, out = verify_command("--tenant", tenant.slug, "--to", "2025-03-01")
    assert code == 1
    assert fail_lines(out)[0].startswith(
        f"FAIL chain=tenant:{tenant.pk} event_id={events[0].pk} seq=1 reason=hash does not match"
    )

    code, out = verify_command("--tenant", tenant.slug, "--from", "2026-01-01")
    assert (code, out.splitlines()[-1]) == (0, "PASS chains=1 events=0")
    with pytest.raises(CommandError, match="--from: not an ISO date"):
        verify_command("--from", "last tuesday")


def test_every_reported_hash_is_sha256_hex(chain):
    tenant, events = chain
    tamper("UPDATE audit_auditevent SET actor_label = 'someone else' WHERE id = %s", [events[0].pk])
    (brk,) = only_result(tenant).breaks
    assert brk.event_id == events[0].pk and brk.stored_prev_hash == "0" * 64
    assert HEX64.fullmatch(brk.actual_hash) and brk.actual_hash == rehash(events[0], actor_label="someone else")


def test_occurred_at_never_runs_backwards_in_a_chain():
    with time_machine.travel(dt.datetime(2025, 5, 1, tzinfo=dt.UTC), tick=False):
        first = audit_record(actor=NOC, action="a.b.c", entity_type="x", entity_id="1")
    with time_machine.travel(dt.datetime(2025, 4, 1, tzinfo=dt.UTC), tick=False):
        second = audit_record(actor=NOC, action="a.b.c", entity_type="x", entity_id="1")
    assert second.occurred_at == first.occurred_at
    assert verify_chains(["platform"])[0].ok
