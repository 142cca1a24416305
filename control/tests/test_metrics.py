"""Each command that ends moves exactly one outcome counter, once, whichever way it ended (SPEC §12;
the runbook's PromQL in docs/OPERATIONS.md reads these)."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone
from prometheus_client import REGISTRY

from audit.services import Actor
from control.models import CommandState, CommandType, PriorityClass
from control.services.ack import command_ack
from control.services.creation import command_create
from control.services.expiry import commands_expire_due
from control.services.poll import command_poll_lease
from control.services.verification import command_verify
from control.tests.factories import ControlCommandFactory, principal_for

pytestmark = pytest.mark.django_db
OUTCOMES = ("commands_succeeded_total", "commands_failed_total")


def counters() -> dict:
    out = {}
    for family in REGISTRY.collect():
        for s in family.samples:
            if s.name in OUTCOMES:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def moved(before: dict, after: dict) -> dict:
    return {
        (name, dict(labels).get("type"), dict(labels).get("error_code")): after[key] - before.get(key, 0)
        for key in after
        if after[key] != before.get(key, 0)
        for name, labels in [key]
    }


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run the on-commit callbacks (the counters move only once the transaction commits)."""

    def run(fn):
        before = counters()
        with django_capture_on_commit_callbacks(execute=True):
            result = fn()
        return result, moved(before, counters())

    return run


def _leased(world, **kwargs):
    cmd = ControlCommandFactory(miner=world.miners_a_x[0], **kwargs)
    principal = principal_for(world.collector_x)
    (wire,) = command_poll_lease(principal=principal, limit=1)
    return cmd, principal, wire["command_id"]


def _ack(principal, wire_id, status, error_class=""):
    code = {"completed": 0, "failed": 1, "skipped": 2, "rejected": 3}[status]
    payload = {"status": status, "result_code": code, "result_message": status}
    if error_class:
        payload["error_class"] = error_class
    return command_ack(principal=principal, wire_id=wire_id, payload=payload, endpoint="v1")


def test_an_edge_refusal_counts_one_failure(world, committed):
    _, principal, wid = _leased(world, command_type=CommandType.SET_FAN, params={"speed": 80})
    _, delta = committed(lambda: _ack(principal, wid, "rejected", "unsupported"))
    assert delta == {("commands_failed_total", "set_fan", "EDGE_REJECTED_UNSUPPORTED"): 1}


def test_an_edge_failure_counts_one_failure(world, committed):
    _, principal, wid = _leased(world, command_type=CommandType.SET_FAN, params={"speed": 80})
    _, delta = committed(lambda: _ack(principal, wid, "failed", "invalid_params"))
    assert delta == {("commands_failed_total", "set_fan", "EDGE_INVALID_PARAMS"): 1}


def test_an_ack_verified_at_once_counts_one_success_and_verifying_again_counts_nothing(world, committed):
    # A pool switch by id cannot be seen in telemetry: the ACK decides it at once (unverified).
    cmd, principal, wid = _leased(world, command_type=CommandType.SET_POOL, params={"pool_id": 1})
    _, delta = committed(lambda: _ack(principal, wid, "completed"))
    cmd.refresh_from_db()
    assert cmd.state == CommandState.SUCCEEDED
    assert delta == {("commands_succeeded_total", "set_pool", None): 1}
    _, again = committed(lambda: command_verify(cmd))
    assert again == {}


def test_an_acked_command_counts_only_when_telemetry_decides_it(world, committed):
    cmd, principal, wid = _leased(world, command_type=CommandType.ENABLE_HASHING)
    _, delta = committed(lambda: _ack(principal, wid, "completed"))
    assert delta == {}  # acked: waiting for telemetry
    cmd.refresh_from_db()
    with time_machine.travel(cmd.acked_at + dt.timedelta(hours=1), tick=False):
        _, delta = committed(lambda: command_verify(cmd))
    cmd.refresh_from_db()
    assert cmd.state in (CommandState.SUCCEEDED, CommandState.FAILED)
    assert sum(delta.values()) == 1


def test_expiry_counts_each_expired_command_once(world, committed):
    waiting = ControlCommandFactory(miner=world.miners_a_x[1], command_type=CommandType.REBOOT)
    later = timezone.now() + dt.timedelta(days=1)
    with time_machine.travel(later, tick=False):
        _, delta = committed(lambda: commands_expire_due())
        _, again = committed(lambda: commands_expire_due())
    waiting.refresh_from_db()
    assert waiting.state == CommandState.EXPIRED
    assert delta == {("commands_failed_total", "reboot", "COMMAND_EXPIRED"): 1}
    assert again == {}


def test_an_emergency_preempting_a_running_command_counts_one_failure(world, noc_x, committed):
    cmd, principal, wid = _leased(world, command_type=CommandType.SET_FAN, params={"speed": 80})
    cmd.refresh_from_db()
    cmd.state = CommandState.RUNNING  # the collector reported it started
    cmd.save(update_fields=["state"])

    def emergency():
        return command_create(
            actor=Actor.user(noc_x),
            user=noc_x,
            miner=world.miners_a_x[0],
            command_type=CommandType.DISABLE_HASHING,
            params={},
            priority_class=PriorityClass.SAFETY,
            emergency=True,
            reason="overheating",
        )

    _, delta = committed(emergency)
    assert delta == {("commands_failed_total", "set_fan", "PREEMPTED_BY_EMERGENCY"): 1}
