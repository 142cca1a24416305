import datetime as dt

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from conftest import SETUP
from control.models import CommandAttempt, CommandState, CommandType, PriorityClass
from control.selectors import command_events
from control.services.poll import command_poll_lease
from control.services.signing import command_signature_valid, command_signing_set
from control.tests.factories import (
    ControlCommandFactory,
    collector_headers,
    principal_for,
)
from telemetry.models import TelemetryLive
from tenants.services import collector_poll_touch, collector_token_create
from tests.factories import CollectorFactory

pytestmark = pytest.mark.django_db
POLL = "/api/edge/v1/commands/poll"


def _live(miner, device_id, age_sec):
    ts = timezone.now() - dt.timedelta(seconds=age_sec)
    return TelemetryLive.objects.create(
        miner=miner, site=miner.site, tenant=miner.tenant, ts=ts, received_at=ts, device_id=device_id, online=True
    )


def test_poll_leases_best_first_and_builds_the_wire_objects(world):
    a1, a2, a3 = world.miners_a_x
    a2.miner_key = "key-a2"
    a2.save()
    low = ControlCommandFactory(miner=a1, command_type=CommandType.REBOOT)
    safety = ControlCommandFactory(
        miner=a2, command_type=CommandType.DISABLE_HASHING, priority_class=PriorityClass.SAFETY
    )
    freq = ControlCommandFactory(
        miner=a3, command_type=CommandType.SET_FREQUENCY, params={"frequency": 400}, priority=5
    )

    wires = command_poll_lease(principal=principal_for(world.collector_x, "dev-1"), limit=10)

    assert [w["command_id"] for w in wires] == [str(safety.pk), str(freq.pk), str(low.pk)]
    first = wires[0]
    assert (
        first["command"] == "disable" and wires[2]["command"] == "restart" and wires[1]["params"] == {"frequency": 400}
    )
    assert first["miner_id"] == a2.miner_id and first["miner_key"] == "key-a2" and "miner_key" not in wires[1]
    assert first["site_id"] == "SITE-X" and "zone_id" not in first and "signature" not in first
    assert first["lease_epoch"] == 1 and 599 <= first["ttl_sec"] <= 600
    assert first["issued_at"].endswith("Z") and first["expires_at"].endswith("Z")
    safety.refresh_from_db()
    assert (
        safety.state == CommandState.DISPATCHED
        and safety.lease_collector == world.collector_x
        and safety.lease_device_id == "dev-1"
    )
    assert 59 <= (safety.lease_until - timezone.now()).total_seconds() <= 60
    attempt = CommandAttempt.objects.get(command=safety)
    assert (attempt.wire_id, attempt.lease_epoch, attempt.device_id) == (str(safety.pk), 1, "dev-1")
    # one dispatch event for the poll's chain, listing the lease; the command's timeline finds it
    (event,) = AuditEvent.objects.filter(action="control.commands.dispatched")
    lease = next(c for c in event.payload["commands"] if c["id"] == safety.pk)
    assert (lease["attempt"], lease["lease_epoch"], lease["wire_id"]) == (1, 1, str(safety.pk))
    assert (event.entity_type, event.payload["device_id"], event.payload["collector"]) == (
        "control.poll",
        "dev-1",
        "edge-x",
    )
    assert event.pk in {e.pk for e in command_events(safety)}


def test_poll_never_hands_out_expired_backing_off_unapproved_or_foreign_commands(world):
    a1, a2, a3 = world.miners_a_x
    now = timezone.now()
    ControlCommandFactory(miner=a1, created_at=now - dt.timedelta(seconds=700))  # TTL 600 passed
    ControlCommandFactory(miner=a2, not_before=now + dt.timedelta(seconds=30))
    ControlCommandFactory(miner=a3, state=CommandState.PROPOSED)
    ControlCommandFactory(miner=world.miners_b_x[0], state=CommandState.APPROVED)
    ControlCommandFactory(miner=world.miners_b_y[0])  # site Y
    assert command_poll_lease(principal=principal_for(world.collector_x), limit=10) == []


def test_poll_leases_one_command_per_miner_and_skips_leased_miners(world):
    miner = world.miners_a_x[0]
    best = ControlCommandFactory(miner=miner, priority=9)
    ControlCommandFactory(miner=miner, priority=1)
    first = command_poll_lease(principal=principal_for(world.collector_x), limit=10)
    assert [w["command_id"] for w in first] == [str(best.pk)]
    assert command_poll_lease(principal=principal_for(world.collector_x, "dev-2"), limit=10) == []


def test_poll_stops_at_the_limit(world):
    for miner in world.miners_a_x + world.miners_b_x:
        ControlCommandFactory(miner=miner)
    assert len(command_poll_lease(principal=principal_for(world.collector_x), limit=2)) == 2
    assert len(command_poll_lease(principal=principal_for(world.collector_x), limit=10)) == 3


def test_zoned_collector_gets_only_its_zone_and_names_it(world):
    zoned = CollectorFactory(site=world.site_x, zone=world.zone_x1, name="edge-x1")
    collector_token_create(actor=SETUP, collector=zoned)
    in_zone = ControlCommandFactory(miner=world.miners_a_x[0])
    ControlCommandFactory(miner=world.miners_b_x[0])  # no zone
    wires = command_poll_lease(principal=principal_for(zoned), limit=10)
    assert [w["command_id"] for w in wires] == [str(in_zone.pk)]
    assert wires[0]["zone_id"] == "X1"


def test_device_affinity_prefers_the_device_that_reports_the_miner(world):
    fresh, stale, unseen = world.miners_a_x
    _live(fresh, "dev-2", age_sec=10)
    _live(stale, "dev-2", age_sec=3600)
    c_fresh, c_stale, c_unseen = (ControlCommandFactory(miner=m) for m in (fresh, stale, unseen))
    got = {w["command_id"] for w in command_poll_lease(principal=principal_for(world.collector_x, "dev-1"), limit=10)}
    assert got == {str(c_stale.pk), str(c_unseen.pk)}
    got = [w["command_id"] for w in command_poll_lease(principal=principal_for(world.collector_x, "dev-2"), limit=10)]
    assert got == [str(c_fresh.pk)]


def test_signed_commands_verify_with_the_collector_secret(world):
    ControlCommandFactory(miner=world.miners_a_x[0], command_type=CommandType.SET_FAN, params={"speed": 80})
    secrets = command_signing_set(actor=SETUP, site=world.site_x, enabled=True)
    (wire,) = command_poll_lease(principal=principal_for(world.collector_x), limit=10)
    assert command_signature_valid(wire, secrets["edge-x"])
    assert not command_signature_valid(wire | {"expires_at": "2099-01-01T00:00:00.000Z"}, secrets["edge-x"])
    assert not command_signature_valid(wire, secrets["edge-x"][::-1])
    assert AuditEvent.objects.filter(action="control.signing.enabled", site_code="SITE-X").exists()


def test_v1_poll_answers_204_when_there_is_nothing(client, world):
    resp = client.get(POLL, **collector_headers(world.token_x, "SITE-X"))
    assert resp.status_code == 204 and resp.content == b""


def test_v1_poll_answers_the_commands(client, world):
    cmd = ControlCommandFactory(miner=world.miners_a_x[0])
    resp = client.get(POLL, **collector_headers(world.token_x, "SITE-X"))
    assert resp.status_code == 200
    assert [c["command_id"] for c in resp.json()["commands"]] == [str(cmd.pk)]


def test_legacy_poll_answers_success_and_a_list(client, world):
    cmd = ControlCommandFactory(miner=world.miners_a_x[0])
    resp = client.get("/api/collector/commands/pending/SITE-X", **collector_headers(world.token_x, "SITE-X"))
    assert resp.status_code == 200 and resp.json()["success"] is True
    assert [c["command_id"] for c in resp.json()["commands"]] == [str(cmd.pk)]
    empty = client.get("/api/collector/commands/pending", **collector_headers(world.token_x, "SITE-X"))
    assert empty.json() == {"success": True, "commands": [], "count": 0}


def test_legacy_poll_for_another_site_code_is_403_and_leases_nothing(client, world):
    cmd = ControlCommandFactory(miner=world.miners_b_y[0])
    resp = client.get("/api/collector/commands/pending/SITE-Y", **collector_headers(world.token_x, "SITE-X"))
    assert resp.status_code == 403 and resp.json()["error_code"] == "SITE_MISMATCH"
    cmd.refresh_from_db()
    assert cmd.state == CommandState.QUEUED


def test_other_sites_token_gets_403_and_no_token_401(client, world):
    ControlCommandFactory(miner=world.miners_a_x[0])
    assert client.get(POLL, **collector_headers(world.token_y, "SITE-X")).status_code == 403
    resp = client.get(POLL)
    assert resp.status_code == 401 and resp.json()["error_code"]
    assert client.get(POLL, **collector_headers("nope", "SITE-X")).json()["error_code"] == "INVALID_TOKEN"


def test_other_tenants_collector_sees_none_of_site_x(client, world):
    ControlCommandFactory(miner=world.miners_b_x[0])
    resp = client.get(POLL, **collector_headers(world.token_y, "SITE-Y"))
    assert resp.status_code == 204


def test_a_command_waits_while_its_miner_has_a_pending_command_of_a_higher_class(world, noc_x):
    from audit.services import Actor
    from control.services import creation

    miner, other = world.miners_a_x[0], world.miners_a_x[1]
    safety = creation.command_create(
        actor=Actor.user(noc_x),
        user=noc_x,
        miner=miner,
        command_type="disable_hashing",
        priority_class=PriorityClass.SAFETY,
        reason="hot aisle",
    )
    low = creation.command_create(
        actor=Actor.user(noc_x),
        user=noc_x,
        miner=miner,
        command_type="set_fan",
        params={"speed": 90},
        priority_class=PriorityClass.EFFICIENCY,
    )
    free = ControlCommandFactory(
        miner=other, command_type=CommandType.SET_FAN, params={"speed": 50}, priority_class=PriorityClass.CONVENIENCE
    )
    assert (safety.state, low.state) == (CommandState.PROPOSED, CommandState.QUEUED)  # the Safety one awaits approval
    assert low.blocked_reason == f"blocked by #{safety.pk} (Safety)"

    got = [w["command_id"] for w in command_poll_lease(principal=principal_for(world.collector_x), limit=10)]
    assert got == [str(free.pk)]  # a lower class on another miner is not held up
    low.refresh_from_db()
    assert (low.state, low.blocked_reason) == (CommandState.QUEUED, f"blocked by #{safety.pk} (Safety)")

    safety.state = CommandState.CANCELED  # the higher one ends: the lower one goes out
    safety.save(update_fields=["state"])
    got = [w["command_id"] for w in command_poll_lease(principal=principal_for(world.collector_x), limit=10)]
    assert got == [str(low.pk)]
    low.refresh_from_db()
    assert (low.state, low.blocked_reason) == (CommandState.DISPATCHED, "")


@pytest.mark.parametrize("state", [CommandState.APPROVED, CommandState.QUEUED])
def test_a_higher_class_command_that_is_not_ready_still_holds_back_the_lower_one(world, state):
    miner = world.miners_a_x[0]
    later = timezone.now() + dt.timedelta(seconds=60)
    ControlCommandFactory(
        miner=miner, state=state, priority_class=PriorityClass.COMPLIANCE, not_before=later
    )  # backing off
    low = ControlCommandFactory(
        miner=miner, command_type=CommandType.SET_FAN, params={"speed": 90}, priority_class=PriorityClass.EFFICIENCY
    )
    assert command_poll_lease(principal=principal_for(world.collector_x), limit=10) == []
    low.refresh_from_db()
    assert low.state == CommandState.QUEUED


def test_an_expired_higher_class_command_no_longer_holds_back_the_lower_one(world):
    miner = world.miners_a_x[0]
    ControlCommandFactory(
        miner=miner, priority_class=PriorityClass.SAFETY, created_at=timezone.now() - dt.timedelta(seconds=700)
    )
    low = ControlCommandFactory(
        miner=miner, command_type=CommandType.SET_FAN, params={"speed": 90}, priority_class=PriorityClass.EFFICIENCY
    )
    assert [w["command_id"] for w in command_poll_lease(principal=principal_for(world.collector_x), limit=10)] == [
        str(low.pk)
    ]


def test_a_poll_is_one_lease_statement_plus_the_audit_append(world):
    for miner in world.miners_a_x + world.miners_b_x:
        ControlCommandFactory(miner=miner)
    principal = principal_for(world.collector_x)
    # last_poll_at is written at most once per resolution: a collector that just polled writes nothing
    collector_poll_touch(collector=principal.collector, resolution_sec=0)
    with CaptureQueriesContext(connection) as queries:
        assert len(command_poll_lease(principal=principal, limit=10)) == 5
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    # the lease (with its attempt rows and the signing key) is one statement, the audit append another
    assert len(statements) == 2 and statements[0].lstrip().startswith("WITH") and "control_command" in statements[0]
    assert statements[1].startswith("SELECT * FROM audit_append(")
    assert CommandAttempt.objects.filter(lease_epoch=1, lease_ended_at__isnull=True).count() == 5
    # five leases of two tenants' miners: one event on each tenant's chain, each lease in exactly one
    events = AuditEvent.objects.filter(action="control.commands.dispatched").order_by("chain_key")
    assert [(e.chain_key, len(e.payload["commands"])) for e in events] == [
        (f"tenant:{world.tenant_a.pk}", 3),
        (f"tenant:{world.tenant_b.pk}", 2),
    ]
    assert len({e.entity_id for e in events}) == 1  # the same poll


def test_the_lease_statement_writes_expiry_and_ttl_as_the_wire_always_did(world):
    # expires_at and ttl_sec come out of the lease statement: milliseconds truncated (as Python's
    # isoformat), ttl rounded up to whole seconds from the poll's own `now`, at least 1.
    now = dt.datetime(2026, 12, 7, 14, 37, 46, 830_999, tzinfo=dt.UTC)
    a1, a2 = world.miners_a_x[:2]
    far = ControlCommandFactory(miner=a1, expires_at=now + dt.timedelta(seconds=599, microseconds=1))
    near = ControlCommandFactory(miner=a2, expires_at=now + dt.timedelta(microseconds=2_500))
    with time_machine.travel(now, tick=False):
        wires = {w["command_id"]: w for w in command_poll_lease(principal=principal_for(world.collector_x), limit=10)}
    assert wires[str(far.pk)]["expires_at"] == "2026-12-07T14:47:45.831Z" and wires[str(far.pk)]["ttl_sec"] == 600
    assert wires[str(near.pk)]["expires_at"] == "2026-12-07T14:37:46.833Z" and wires[str(near.pk)]["ttl_sec"] == 1
    assert wires[str(far.pk)]["issued_at"] == "2026-12-07T14:37:46.830Z"


def test_an_attempt_rows_wire_id_is_its_command_and_attempt(world):
    command = ControlCommandFactory(miner=world.miners_a_x[0])
    now = timezone.now()
    row = {"command": command, "lease_epoch": 1, "collector": world.collector_x, "leased_at": now, "lease_until": now}
    CommandAttempt.objects.create(attempt=1, wire_id=str(command.pk), **row)
    CommandAttempt.objects.create(attempt=2, wire_id=f"{command.pk}.2", **row)
    for attempt, wire_id in ((3, f"{command.pk}.4"), (1, f"{command.pk}.1"), (3, str(command.pk))):
        with pytest.raises(IntegrityError, match="attempt_wire_id_derived"), transaction.atomic():
            CommandAttempt.objects.create(attempt=attempt, wire_id=wire_id, **row)
    with pytest.raises(IntegrityError, match="attempt_unique"), transaction.atomic():
        CommandAttempt.objects.create(attempt=2, wire_id=f"{command.pk}.2", **(row | {"lease_epoch": 2}))
