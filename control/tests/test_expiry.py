import datetime as dt

import orjson
import pytest
import time_machine

from control.models import CommandAck, CommandAttempt, CommandState, Outcome
from control.services.ack import command_ack
from control.services.expiry import commands_expire_due
from control.services.poll import command_poll_lease
from control.tasks import commands_expire_due_task
from control.tests.factories import (
    ControlCommandFactory,
    collector_headers,
    principal_for,
)

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 24, 16, 0, tzinfo=dt.UTC)
ACK = {"status": "completed", "result_code": 0, "result_message": "ok", "site_id": "SITE-X"}


def test_a_dead_collectors_leases_are_redispatched_after_expiry_not_before(world):
    with time_machine.travel(T0, tick=False) as clock:
        cmds = [ControlCommandFactory(miner=m, ttl_sec=900) for m in world.miners_a_x + world.miners_b_x]
        assert len(command_poll_lease(principal=principal_for(world.collector_x, "dev-dead"), limit=10)) == 5
        clock.shift(59)  # lease_until = T0 + 60 s
        assert commands_expire_due() == {"requeued": 0, "expired_leased": 0, "expired_waiting": 0}
        assert command_poll_lease(principal=principal_for(world.collector_x, "dev-2"), limit=10) == []
        clock.shift(2)
        assert commands_expire_due()["requeued"] == 5
        wires = command_poll_lease(principal=principal_for(world.collector_x, "dev-2"), limit=10)
    assert sorted(w["command_id"] for w in wires) == sorted(
        str(c.pk) for c in cmds
    )  # same wire ids: the edge would skip
    assert {w["lease_epoch"] for w in wires} == {2}
    attempt = CommandAttempt.objects.get(command=cmds[0])
    assert (attempt.lease_epoch, attempt.device_id, attempt.lease_ended_at) == (2, "dev-2", None)


def test_a_late_ack_from_the_lapsed_lease_never_frees_the_new_holders_slot(world):
    with time_machine.travel(T0, tick=False) as clock:
        cmd = ControlCommandFactory(miner=world.miners_a_x[0], ttl_sec=900)
        (wire,) = command_poll_lease(principal=principal_for(world.collector_x, "dev-1"), limit=1)
        clock.shift(61)
        commands_expire_due()
        command_poll_lease(principal=principal_for(world.collector_x, "dev-2"), limit=1)
        late = command_ack(
            principal=principal_for(world.collector_x, "dev-1"), wire_id=wire["command_id"], payload=ACK, endpoint="v1"
        )
        cmd.refresh_from_db()
        assert late.disposition == CommandAck.Disposition.LATE
        assert (cmd.state, cmd.lease_device_id, cmd.lease_epoch) == (CommandState.DISPATCHED, "dev-2", 2)
        first = command_ack(
            principal=principal_for(world.collector_x, "dev-2"), wire_id=wire["command_id"], payload=ACK, endpoint="v1"
        )
        assert first.disposition == CommandAck.Disposition.FIRST


def test_a_lapsed_lease_past_its_ttl_expires_and_a_late_ack_changes_nothing(client, world):
    with time_machine.travel(T0, tick=False) as clock:
        cmd = ControlCommandFactory(miner=world.miners_a_x[0], ttl_sec=30)
        (wire,) = command_poll_lease(principal=principal_for(world.collector_x, "dev-1"), limit=1)
        clock.shift(61)
        assert commands_expire_due()["expired_leased"] == 1
        cmd.refresh_from_db()
        assert (cmd.state, cmd.error_code, cmd.outcome) == (CommandState.EXPIRED, "COMMAND_EXPIRED", Outcome.TIMED_OUT)
        resp = client.post(
            f"/api/edge/v1/commands/{wire['command_id']}/ack",
            orjson.dumps(ACK),
            content_type="application/json",
            **collector_headers(world.token_x, "SITE-X"),
        )
    assert resp.status_code == 200
    cmd.refresh_from_db()
    assert (
        cmd.state == CommandState.EXPIRED
        and CommandAck.objects.get(command=cmd).disposition == CommandAck.Disposition.LATE
    )
    assert CommandAttempt.objects.get(command=cmd).lease_end_reason == "lapsed"


def test_commands_waiting_past_their_ttl_expire_and_are_never_handed_out(world):
    with time_machine.travel(T0, tick=False) as clock:
        states = [CommandState.QUEUED, CommandState.APPROVED, CommandState.PROPOSED]
        cmds = [
            ControlCommandFactory(miner=m, state=s, ttl_sec=300) for m, s in zip(world.miners_a_x, states, strict=True)
        ]
        keeps = ControlCommandFactory(miner=world.miners_b_x[0], ttl_sec=900)
        clock.shift(300)
        assert commands_expire_due()["expired_waiting"] == 3
        assert [w["command_id"] for w in command_poll_lease(principal=principal_for(world.collector_x), limit=10)] == [
            str(keeps.pk)
        ]
    for cmd in cmds:
        cmd.refresh_from_db()
        assert (cmd.state, cmd.error_code) == (CommandState.EXPIRED, "COMMAND_EXPIRED")


def test_a_command_is_not_redispatched_forever(world, settings):
    settings.COMMAND_MAX_LEASES = 2
    with time_machine.travel(T0, tick=False) as clock:
        cmd = ControlCommandFactory(miner=world.miners_a_x[0], ttl_sec=3600)
        for _ in range(2):
            command_poll_lease(principal=principal_for(world.collector_x), limit=1)
            clock.shift(61)
            commands_expire_due()
    cmd.refresh_from_db()
    assert (cmd.state, cmd.lease_epoch, cmd.error_code) == (CommandState.EXPIRED, 2, "COMMAND_EXPIRED")


def test_the_expiry_job_runs_once_per_interval(world):
    with time_machine.travel(T0, tick=False) as clock:
        ControlCommandFactory(miner=world.miners_a_x[0], ttl_sec=10)
        clock.shift(11)
        assert commands_expire_due_task()["expired_waiting"] == 1
        assert commands_expire_due_task() is None  # a second beat in the same interval skips
