"""Captures 08–14 (the command exchanges the field collector really sent) replayed through the
real HTTP stack, bodies byte for byte, clock pinned to the day they were recorded.

The captures' wire ids (cmd-0001, exp-1, 77, …) were the stand-in cloud's. Where the exchange
ACKs a command this cloud would have sent, the test creates that command, leases it to the
capture's device and puts our wire id in the URL (the body stays unchanged). The ACKs for
commands this cloud cannot send (no miner, a miner the edge does not have, actions outside §6.1)
keep their original ids: they answer 200 and are recorded as `unknown`.
"""

import datetime as dt
import json
from pathlib import Path

import pytest
import time_machine

from conftest import SETUP
from control.models import (
    CommandAck,
    CommandAttempt,
    CommandState,
    CommandType,
    Outcome,
)
from control.services.expiry import commands_expire_due
from control.services.poll import EDGE_ACTION
from control.tests.factories import ControlCommandFactory
from tenants.services import collector_token_create
from tenants.site_identity import site_alias_add
from tests.factories import CollectorFactory, MinerFactory, SiteFactory, TenantFactory

pytestmark = pytest.mark.django_db
CAPTURES = Path("/work/shared/collector_captures")
RECORDED = dt.datetime(2026, 11, 24, 16, 38, 30, tzinfo=dt.UTC)
TYPE_OF = {action: kind for kind, action in EDGE_ACTION.items()}
S = CommandState


def capture(name: str) -> tuple[dict, bytes | None]:
    request = json.loads((CAPTURES / f"{name}.request.json").read_text())
    body = CAPTURES / f"{name}.body"
    return request, body.read_bytes() if body.exists() else None


def send(client, name: str, token: str, path: str | None = None, method: str | None = None):
    request, body = capture(name)
    meta = {}
    for key, value in request["headers"].items():
        if key.lower() in ("host", "content-length", "content-type"):
            continue
        meta["HTTP_" + key.upper().replace("-", "_")] = value.replace("{{COLLECTOR_TOKEN}}", token)
    path = path or request["path"]
    if (method or request["method"]) == "GET":
        return client.get(path, **meta)
    return client.post(path, body, content_type=request["headers"]["Content-Type"], **meta)


@pytest.fixture(params=["code", "alias"])
def acc(request, db):
    """The capture site: coded SITE-ACC as recorded, or (after the switch-over) coded otherwise
    with the collector's configured SITE-ACC registered as an alias."""
    tenant = TenantFactory(slug="acc-customer")
    site = SiteFactory(code="SITE-ACC" if request.param == "code" else "FARM-ACC-7")
    if request.param == "alias":
        site_alias_add(actor=SETUP, site=site, value="SITE-ACC")
    collector = CollectorFactory(site=site, name="remote-0387")
    _, token = collector_token_create(actor=SETUP, collector=collector)
    miners = {f"S21_{i:04d}": MinerFactory(site=site, tenant=tenant, miner_id=f"S21_{i:04d}") for i in range(1, 11)}
    return token, miners


@pytest.fixture(autouse=True)
def _pinned_clock():
    with time_machine.travel(RECORDED, tick=False) as clock:
        yield clock


def _command_for(miners, ack_body: dict, **fields):
    params = {"speed": 80} if ack_body["command"] == "set_fan" else {}
    params = {"frequency": 400} if ack_body["command"] == "set_frequency" else params
    return ControlCommandFactory(
        miner=miners[ack_body["miner_id"]],
        command_type=TYPE_OF[ack_body["command"]],
        params=fields.pop("params", params),
        **fields,
    )


def _lease_to(client, token: str, name: str) -> None:
    """Poll as the capture's device (its headers), so that device holds the lease the ACK answers."""
    request, _ = capture(name)
    poll = "/api/collector/commands/pending" if "/api/collector/" in request["path"] else "/api/edge/v1/commands/poll"
    assert send(client, name, token, path=poll, method="GET").status_code == 200


def test_08_v1_poll_empty_is_204(client, acc):
    resp = send(client, "08-v1-poll-empty", acc[0])
    assert resp.status_code == 204 and resp.content == b""


def test_08_v1_poll_hands_out_the_seven_commands_in_the_collector_vocabulary(client, acc):
    token, miners = acc
    recorded = json.loads((CAPTURES / "08-v1-poll-commands.response.json").read_text())["body"]["commands"]
    for c in recorded:
        params = {k: v for k, v in c["params"].items() if k != "post_wait_sec"}
        ControlCommandFactory(miner=miners[c["miner_id"]], command_type=TYPE_OF[c["command"]], params=params)
    resp = send(client, "08-v1-poll-commands", token)
    assert resp.status_code == 200
    got = resp.json()["commands"]

    def shape(c):
        return (
            c["miner_id"],
            c["command"],
            json.dumps({k: v for k, v in c["params"].items() if k != "post_wait_sec"}, sort_keys=True),
        )

    assert sorted(map(shape, got)) == sorted(map(shape, recorded))
    for c in got:  # every field the collector reads (COLLECTOR_PROTOCOL §3.2)
        assert isinstance(c["command_id"], str) and c["site_id"] == "SITE-ACC" and c["ttl_sec"] == 600
        assert c["issued_at"] == "2026-11-24T16:38:30.000Z" and c["expires_at"] == "2026-11-24T16:48:30.000Z"


def test_09_legacy_poll_empty_and_with_a_command(client, acc):
    token, miners = acc
    assert send(client, "09-legacy-poll-empty", token).json() == {"success": True, "commands": [], "count": 0}
    ControlCommandFactory(miner=miners["S21_0002"], command_type=CommandType.DISABLE_HASHING)
    resp = send(client, "09-legacy-poll-command", token)
    assert resp.status_code == 200 and resp.json()["success"] is True
    assert [(c["miner_id"], c["command"]) for c in resp.json()["commands"]] == [("S21_0002", "disable")]


# (capture, state after the ACK, error_code, outcome) for ACKs of commands this cloud sends
MAPPED = [
    ("09-legacy-result-completed", S.ACKED, "", ""),
    ("10-ack-disable-completed", S.ACKED, "", ""),
    ("10-ack-restart-completed", S.ACKED, "", ""),
    ("10-ack-set-frequency-completed", S.ACKED, "", ""),
    ("10-ack-set-pool-id-completed", S.SUCCEEDED, "", Outcome.UNVERIFIED),
    ("10-ack-set-pool-url-completed", S.ACKED, "", ""),
    ("10-ack-set-fan-completed", S.ACKED, "", ""),
    ("10-ack-enable-completed", S.ACKED, "", ""),
    ("11-ack-restart-failed-stock", S.ACKED, "", ""),  # telemetry decides: stock firmware restarts anyway
    ("11-ack-disable-failed-stock", S.QUEUED, "", ""),  # execution_failed: retried as attempt 2
    ("11-ack-set-frequency-failed-stock", S.QUEUED, "", ""),
    ("12-ack-rejected-expired", S.FAILED, "EDGE_REJECTED_EXPIRED", Outcome.EDGE_REJECTED),
    ("12-ack-rejected-site-mismatch", S.FAILED, "EDGE_REJECTED_SITE_MISMATCH", Outcome.EDGE_REJECTED),
    ("12-ack-alias-id-action", S.ACKED, "", ""),
]


@pytest.mark.parametrize("name,state,error_code,outcome", MAPPED)
def test_ack_capture_answers_200_and_decides_its_command(client, acc, name, state, error_code, outcome):
    token, miners = acc
    request, body = capture(name)
    ack_body = json.loads(body)
    params = (
        {"pool_id": 1}
        if "pool-id" in name
        else {"pool_url": "stratum+tcp://new.example:3333", "pool_user": "acct.w8"}
        if "pool-url" in name
        else None
    )
    cmd = _command_for(miners, ack_body, **({"params": params} if params else {}))
    _lease_to(client, token, name)
    wire_path = request["path"].replace(request["path"].split("/")[-2], str(cmd.pk))
    resp = send(client, name, token, path=wire_path)
    assert resp.status_code == 200 and resp.json()["success"] is True
    cmd.refresh_from_db()
    assert (cmd.state, cmd.error_code, cmd.outcome) == (state, error_code, outcome)
    ack = CommandAck.objects.get(command=cmd)
    assert ack.disposition == CommandAck.Disposition.FIRST and ack.payload == ack_body
    assert ack.endpoint == ("legacy" if "/api/collector/" in request["path"] else "v1")
    attempt = CommandAttempt.objects.get(command=cmd, attempt=1)
    assert attempt.before == ack_body.get("before") and attempt.after == ack_body.get("after")
    assert cmd.before_snapshot == ack_body.get("before")


UNMAPPED = [
    "12-ack-failed-no-target",
    "12-ack-failed-not-registered",
    "12-ack-failed-unsupported",
    "12-ack-failed-unknown-command",
    "13-ack-lost-503",
]


@pytest.mark.parametrize("name", UNMAPPED)
def test_ack_for_an_id_this_cloud_never_issued_answers_200_recorded_unknown(client, acc, name):
    request, body = capture(name)
    resp = send(client, name, acc[0])
    assert resp.status_code == 200
    ack = CommandAck.objects.get()
    assert (ack.disposition, ack.wire_id, ack.command) == (
        CommandAck.Disposition.UNKNOWN,
        request["path"].split("/")[-2],
        None,
    )
    assert ack.payload == json.loads(body)


def test_13_lost_ack_then_redelivery_answered_skipped_leaves_it_to_telemetry(client, acc, _pinned_clock):
    token, miners = acc
    cmd = ControlCommandFactory(miner=miners["S21_0002"], command_type=CommandType.DISABLE_HASHING)
    assert send(client, "13-poll-redelivered", token).status_code == 200  # first delivery
    # 13-ack-lost-503 never reached the cloud (503 injected); the collector never re-sends it.
    _pinned_clock.shift(61)
    assert commands_expire_due()["requeued"] == 1
    resp = send(client, "13-poll-redelivered", token)
    assert resp.status_code == 200
    assert [c["command_id"] for c in resp.json()["commands"]] == [str(cmd.pk)]  # same wire id: the edge skips it
    resp = send(client, "13-ack-skipped-duplicate", token, path=f"/api/edge/v1/commands/{cmd.pk}/ack")
    assert resp.status_code == 200
    cmd.refresh_from_db()
    assert (cmd.state, cmd.error_code, cmd.lease_epoch) == (S.ACKED, "", 2)
    assert CommandAttempt.objects.get(command=cmd).ack_status == "skipped"


def test_14_poll_with_an_unknown_token_is_401(client, acc):
    resp = send(client, "14-poll-unknown-token", "hic_not-a-token-this-cloud-issued")
    assert resp.status_code == 401 and resp.json()["error_code"] == "INVALID_TOKEN"
