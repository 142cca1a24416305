"""A poll's leases are one `control.commands.dispatched` event per chain (SPEC §8), yet each command's
trail stays whole: its timeline shows the shared event with its hash, and dropping or editing that
event is caught for every command it listed — by the command's own trail check and by
verify_audit_chain."""

import json

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.tests.conftest import fail_lines, tamper, verify_command
from control.models import CommandState
from control.services.audit_check import command_trail
from control.services.poll import command_poll_lease
from control.tests.factories import ControlCommandFactory, principal_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def polled(world):
    commands = [ControlCommandFactory(miner=m) for m in world.miners_a_x]
    command_poll_lease(principal=principal_for(world.collector_x), limit=10)
    for c in commands:
        c.refresh_from_db()
    (event,) = AuditEvent.objects.filter(action="control.commands.dispatched")
    return commands, event


def test_every_command_of_the_poll_finds_the_one_event_and_its_trail_holds(polled):
    commands, event = polled
    assert {c["id"] for c in event.payload["commands"]} == {c.pk for c in commands}
    for c in commands:
        assert c.state == CommandState.DISPATCHED
        trail = command_trail(c)
        assert trail.ok, trail.problems()
        (line,) = [ln for ln in trail.lines if ln.event.pk == event.pk]
        assert (line.lease["attempt"], line.lease["lease_epoch"]) == (1, 1)


def test_editing_the_shared_event_breaks_the_trail_of_every_command_in_it(polled):
    commands, event = polled
    tamper(
        "UPDATE audit_auditevent SET payload = jsonb_set(payload, '{device_id}', '\"someone-else\"') WHERE id = %s",
        [event.pk],
    )
    for c in commands:
        trail = command_trail(c)
        assert not trail.ok
        assert any(f"event {event.pk} " in p and "hash does not match" in p for p in trail.problems())
    code, out = verify_command()
    assert code == 1 and any(f"event_id={event.pk} " in line for line in fail_lines(out))


def test_taking_a_command_out_of_the_shared_event_is_caught_for_that_command(polled):
    commands, event = polled
    victim = commands[0]
    kept = [c for c in event.payload["commands"] if c["id"] != victim.pk]
    refs = [r for r in event.payload["refs"] if r != f"control.command:{victim.pk}"]
    tamper(
        "UPDATE audit_auditevent SET payload = payload || jsonb_build_object('commands', %s::jsonb, 'refs', %s::jsonb)"
        " WHERE id = %s",
        [json.dumps(kept), json.dumps(refs), event.pk],
    )
    assert command_trail(victim).problems() == ["lease 1 (lease_epoch 1) has no dispatch event"]
    for c in commands[1:]:  # still listed, but the event no longer hashes
        assert not command_trail(c).ok


def test_dropping_the_shared_event_is_caught_for_every_command_in_it(polled, client, superuser):
    commands, event = polled
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    for c in commands:
        assert "lease 1 (lease_epoch 1) has no dispatch event" in command_trail(c).problems()
    code, out = verify_command()
    assert code == 1 and any("sequence gap" in line or "head" in line for line in fail_lines(out))
    client.force_login(superuser)
    html = client.get(reverse("admin:control_command_change", args=[commands[0].pk])).content.decode()
    assert "Audit trail broken" in html and "has no dispatch event" in html
