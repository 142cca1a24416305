import datetime as dt

import orjson
import pytest
import time_machine
from django.utils import timezone

from control.models import (
    CommandAck,
    CommandAttempt,
    CommandState,
    CommandType,
    Outcome,
)
from control.services.ack import command_ack
from control.services.poll import command_poll_lease
from control.tests.factories import (
    ControlCommandFactory,
    collector_headers,
    principal_for,
)

pytestmark = pytest.mark.django_db
D = CommandAck.Disposition
BEFORE = {
    "online": True,
    "hashrate_ghs": 200000.0,
    "hashrate_5s_ghs": 199000.0,
    "temp_avg": 53.0,
    "temp_max": 68.0,
    "fan_speeds": [4, 4101, 4067],
    "pool_url": "stratum+tcp://btc.f2pool.com:1314",
    "worker_name": "farm1.w",
}


def body(status, *, error_class="", message="", **extra):
    code = {"completed": 0, "failed": 1, "skipped": 2, "rejected": 3}[status]
    out = {
        "status": status,
        "result_code": code,
        "result_message": message or status,
        "site_id": "SITE-X",
        "executed_at": "2026-11-24T16:39:07Z",
        "device_id": "dev-1",
        "duration_ms": 3,
        **extra,
    }
    if error_class:
        out["error_class"] = error_class
    return out


def ack(client, token, wire_id, payload, device="dev-1", path="/api/edge/v1/commands/{}/ack"):
    return client.post(
        path.format(wire_id),
        orjson.dumps(payload),
        content_type="application/json",
        **collector_headers(token, "SITE-X", device),
    )


def leased(world, device="dev-1", **kwargs):
    cmd = ControlCommandFactory(miner=kwargs.pop("miner", world.miners_a_x[0]), **kwargs)
    (wire,) = command_poll_lease(principal=principal_for(world.collector_x, device), limit=1)
    cmd.refresh_from_db()
    return cmd, wire["command_id"]


def test_completed_ack_decides_the_attempt_and_keeps_the_snapshots(client, world):
    cmd, wid = leased(world, command_type=CommandType.DISABLE_HASHING)
    resp = ack(
        client,
        world.token_x,
        wid,
        body("completed", before=BEFORE, after=BEFORE | {"hashrate_5s_ghs": 0.0}, unknown_field=1),
    )
    assert resp.status_code == 200 and resp.json()["success"] is True
    assert (resp.json()["command_status"], resp.json()["replayed"]) == ("executing", False)  # acked: verifying
    cmd.refresh_from_db()
    assert cmd.state == CommandState.ACKED and cmd.before_snapshot == BEFORE and cmd.ack_payload["unknown_field"] == 1
    attempt = CommandAttempt.objects.get(command=cmd)
    assert (attempt.ack_status, attempt.result_code, attempt.lease_end_reason) == ("completed", 0, "acked")
    assert attempt.after["hashrate_5s_ghs"] == 0.0
    assert list(CommandAck.objects.filter(command=cmd).values_list("disposition", "endpoint")) == [(D.FIRST, "v1")]


def test_replayed_ack_changes_nothing_and_is_recorded_as_replay(client, world):
    cmd, wid = leased(world, command_type=CommandType.SET_POOL, params={"pool_id": 1})
    ack(client, world.token_x, wid, body("completed"))
    cmd.refresh_from_db()
    assert (cmd.state, cmd.outcome) == (CommandState.SUCCEEDED, Outcome.UNVERIFIED)  # a pool_id switch cannot be seen
    resp = ack(client, world.token_x, wid, body("failed", error_class="execution_failed"))
    assert resp.status_code == 200
    cmd.refresh_from_db()
    assert (cmd.state, cmd.outcome, cmd.error_code) == (CommandState.SUCCEEDED, Outcome.UNVERIFIED, "")
    assert sorted(CommandAck.objects.filter(command=cmd).values_list("disposition", flat=True)) == [D.FIRST, D.REPLAY]


def test_execution_failed_retries_as_a_new_attempt_with_backoff_then_fails(client, world):
    cmd, wid = leased(
        world, command_type=CommandType.SET_FAN, params={"speed": 80}, max_retries=1, retry_backoff_sec=30
    )
    ack(client, world.token_x, wid, body("failed", error_class="execution_failed", message="Unknown command: set_fan"))
    cmd.refresh_from_db()
    assert (cmd.state, cmd.attempt) == (CommandState.QUEUED, 2)
    assert 29 <= (cmd.not_before - timezone.now()).total_seconds() <= 30
    assert command_poll_lease(principal=principal_for(world.collector_x), limit=5) == []  # backing off
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=31)):
        (wire,) = command_poll_lease(principal=principal_for(world.collector_x), limit=5)
        assert wire["command_id"] == f"{cmd.pk}.2" and wire["lease_epoch"] == 2
        ack(client, world.token_x, wire["command_id"], body("failed", error_class="execution_failed"))
    cmd.refresh_from_db()
    assert (cmd.state, cmd.outcome, cmd.error_code) == (
        CommandState.FAILED,
        Outcome.EDGE_FAILED,
        "EDGE_EXECUTION_FAILED",
    )
    assert list(CommandAttempt.objects.filter(command=cmd).values_list("wire_id", "ack_status")) == [
        (wid, "failed"),
        (f"{cmd.pk}.2", "failed"),
    ]


@pytest.mark.parametrize(
    "status,error_class,code,outcome",
    [
        ("failed", "not_found", "EDGE_NOT_FOUND", Outcome.EDGE_FAILED),
        ("failed", "unsupported_action", "EDGE_UNSUPPORTED_ACTION", Outcome.EDGE_FAILED),
        ("failed", "invalid_target", "EDGE_INVALID_TARGET", Outcome.EDGE_FAILED),
        ("failed", "bad_request", "EDGE_BAD_REQUEST", Outcome.EDGE_FAILED),
        ("rejected", "expired", "EDGE_REJECTED_EXPIRED", Outcome.EDGE_REJECTED),
        ("rejected", "site_mismatch", "EDGE_REJECTED_SITE_MISMATCH", Outcome.EDGE_REJECTED),
    ],
)
def test_edge_failures_and_refusals_end_the_command_without_retry(client, world, status, error_class, code, outcome):
    cmd, wid = leased(world, command_type=CommandType.DISABLE_HASHING)
    ack(client, world.token_x, wid, body(status, error_class=error_class))
    cmd.refresh_from_db()
    assert (cmd.state, cmd.error_code, cmd.outcome, cmd.attempt) == (CommandState.FAILED, code, outcome, 1)


def test_failed_restart_ack_goes_to_verification_not_failed(client, world):
    cmd, wid = leased(world, command_type=CommandType.REBOOT)
    ack(client, world.token_x, wid, body("failed", error_class="execution_failed", message="Restart failed: None"))
    cmd.refresh_from_db()
    assert (cmd.state, cmd.error_code) == (CommandState.ACKED, "")


def test_skipped_duplicate_is_executed_unknown_never_failed(client, world):
    cmd, wid = leased(world, command_type=CommandType.DISABLE_HASHING)
    ack(client, world.token_x, wid, body("skipped", error_class="duplicate", message="DUPLICATE_IGNORED"))
    cmd.refresh_from_db()
    assert (cmd.state, cmd.error_code) == (CommandState.ACKED, "")
    assert CommandAttempt.objects.get(command=cmd).ack_status == "skipped"


def test_ack_from_another_device_is_late_and_keeps_the_lease(client, world):
    cmd, wid = leased(world, device="dev-1")
    resp = ack(client, world.token_x, wid, body("completed"), device="dev-old")
    assert resp.status_code == 200
    cmd.refresh_from_db()
    assert cmd.state == CommandState.DISPATCHED  # the slot stays with dev-1's lease
    assert CommandAck.objects.get(command=cmd).disposition == D.LATE
    ack(client, world.token_x, wid, body("completed"))
    cmd.refresh_from_db()
    assert cmd.state == CommandState.ACKED


def test_unknown_and_foreign_ids_answer_200_and_are_recorded_unknown(client, world):
    foreign = ControlCommandFactory(miner=world.miners_b_y[0])
    for wid in ("cmd-0001", "999999999", str(foreign.pk), "None", "1.2.3/x"):
        assert ack(client, world.token_x, wid, body("completed")).status_code == 200
    assert set(CommandAck.objects.values_list("disposition", flat=True)) == {D.UNKNOWN}
    assert CommandAck.objects.filter(wire_id=str(foreign.pk), command=None).count() == 1
    foreign.refresh_from_db()
    assert foreign.state == CommandState.QUEUED


def test_legacy_result_and_body_ack_paths_decide_like_v1(client, world):
    cmd, wid = leased(world)
    resp = ack(
        client, world.token_x, wid, body("rejected", error_class="expired"), path="/api/collector/commands/{}/result"
    )
    assert resp.status_code == 200 and resp.json()["success"] is True
    cmd.refresh_from_db()
    assert cmd.state == CommandState.FAILED and CommandAck.objects.get(command=cmd).endpoint == "legacy"
    cmd2, wid2 = leased(world, miner=world.miners_a_x[1])
    resp = ack(
        client,
        world.token_x,
        None,
        body("rejected", error_class="expired", command_id=wid2),
        path="/api/collector/commands/ack",
    )
    assert resp.status_code == 200
    cmd2.refresh_from_db()
    assert cmd2.error_code == "EDGE_REJECTED_EXPIRED"


def test_malformed_ack_body_is_400_with_error_code(client, world):
    cmd, wid = leased(world)
    resp = client.post(
        f"/api/edge/v1/commands/{wid}/ack",
        b"not json",
        content_type="application/octet-stream",
        **collector_headers(world.token_x, "SITE-X"),
    )
    assert resp.status_code == 400 and resp.json()["error_code"] == "MALFORMED_BODY"
    resp = client.post(
        f"/api/edge/v1/commands/{wid}/ack",
        b"[1]",
        content_type="application/json",
        **collector_headers(world.token_x, "SITE-X"),
    )
    assert resp.status_code == 400


def test_ack_with_another_sites_token_is_403_and_changes_nothing(client, world):
    cmd, wid = leased(world)
    resp = ack(client, world.token_y, wid, body("completed"))
    assert resp.status_code == 403
    cmd.refresh_from_db()
    assert cmd.state == CommandState.DISPATCHED and not CommandAck.objects.exists()


def test_service_matches_the_echoed_lease_epoch_when_present(world):
    cmd, wid = leased(world)
    principal = principal_for(world.collector_x, "dev-1")
    assert (
        command_ack(
            principal=principal, wire_id=wid, payload=body("completed", lease_epoch=7), endpoint="v1"
        ).disposition
        == D.LATE
    )
    assert (
        command_ack(
            principal=principal, wire_id=wid, payload=body("completed", lease_epoch=1), endpoint="v1"
        ).disposition
        == D.FIRST
    )


def test_an_ack_writes_its_command_once_and_appends_its_events_in_one_statement_at_the_end(world):
    """acked and the verdict (set_fan without a before snapshot: unobservable, so decided at
    once) go to the chain together, as the ACK's last statement: the head is not held while the
    ACK is verified."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit.models import AuditEvent

    cmd, wid = leased(world, command_type=CommandType.SET_FAN, params={"speed": 80})
    with CaptureQueriesContext(connection) as queries:
        command_ack(
            principal=principal_for(world.collector_x, "dev-1"), wire_id=wid, payload=body("completed"), endpoint="v1"
        )
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    appends = [i for i, sql in enumerate(statements) if "audit_append(" in sql]
    assert appends == [len(statements) - 1]
    # acked and succeeded in one transaction: the command row is written once, with the verdict
    assert len([sql for sql in statements if sql.startswith('UPDATE "control_command" ')]) == 1
    cmd.refresh_from_db()
    assert (cmd.state, cmd.outcome) == (CommandState.SUCCEEDED, Outcome.UNVERIFIED)
    events = AuditEvent.objects.filter(entity_id=str(cmd.pk)).order_by("seq").values_list("action", flat=True)
    assert list(events)[-2:] == ["control.command.acked", "control.command.succeeded"]
