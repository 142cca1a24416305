"""A collector that calls its site by an alias (switch-over, issue 15) polls and ACKs on the v1
and legacy paths, and the command objects it is handed carry that alias: it refuses a command
whose site_id differs from its own configured site_id (COLLECTOR_PROTOCOL §3.2, §3.3)."""

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import SETUP
from control.models import CommandState, CommandType
from control.services.signing import command_signature_valid, command_signing_set
from control.tests.factories import ControlCommandFactory, collector_headers
from tenants.models import SiteAlias
from tenants.site_identity import site_alias_add

pytestmark = pytest.mark.django_db
V1_POLL = "/api/edge/v1/commands/poll"
LEGACY_POLL = "/api/collector/commands/pending"
V1_ACK = "/api/edge/v1/commands/{}/ack"
LEGACY_RESULT = "/api/collector/commands/{}/result"
CONFIGURED = "site_001"  # the site_id in the farm's collector_config.json


@pytest.fixture
def aliased(world):
    site_alias_add(actor=SETUP, site=world.site_x, value=CONFIGURED)
    site_alias_add(actor=SETUP, site=world.site_x, value="17", kind=SiteAlias.Kind.LEGACY_ID)
    site_alias_add(actor=SETUP, site=world.site_y, value="site_002")
    return world


def _ack_body(wire: dict) -> bytes:
    return orjson.dumps(
        {
            "status": "completed",
            "result_code": 0,
            "result_message": "Mining disabled successfully",
            "site_id": CONFIGURED,
            "executed_at": "2026-11-24T16:39:07Z",
            "miner_id": wire["miner_id"],
            "command": wire["command"],
            "device_id": "dev-1",
            "duration_ms": 3,
        }
    )


@pytest.mark.parametrize(
    "poll,ack",
    [(V1_POLL, V1_ACK), (LEGACY_POLL, LEGACY_RESULT), (LEGACY_POLL, "/api/collector/commands/ack")],
    ids=["v1", "legacy-result", "legacy-body-ack"],
)
def test_a_collector_sending_an_alias_polls_gets_its_alias_back_and_acks(client, aliased, poll, ack):
    cmd = ControlCommandFactory(miner=aliased.miners_a_x[0], command_type=CommandType.DISABLE_HASHING)
    headers = collector_headers(aliased.token_x, CONFIGURED)

    resp = client.get(poll, **headers)
    assert resp.status_code == 200, resp.content
    (wire,) = resp.json()["commands"]
    assert wire["site_id"] == CONFIGURED and wire["command_id"] == str(cmd.pk)

    body = _ack_body(wire)
    if ack.endswith("/ack") and "{}" not in ack:
        body = orjson.dumps(orjson.loads(body) | {"command_id": wire["command_id"]})
    resp = client.post(ack.format(wire["command_id"]), body, content_type="application/json", **headers)
    assert resp.status_code == 200 and resp.json()["success"] is True
    cmd.refresh_from_db()
    assert cmd.state == CommandState.ACKED


@pytest.mark.parametrize("path_site", ["SITE-X", CONFIGURED, "17"])
def test_the_legacy_poll_takes_a_site_code_or_alias_in_the_path(client, aliased, path_site):
    ControlCommandFactory(miner=aliased.miners_a_x[0], command_type=CommandType.REBOOT)
    headers = collector_headers(aliased.token_x, "")
    del headers["HTTP_X_SITE_ID"]  # a collector naming its site in the path only
    resp = client.get(f"{LEGACY_POLL}/{path_site}", **headers)
    assert resp.status_code == 200, resp.content
    assert [c["site_id"] for c in resp.json()["commands"]] == [path_site]


def test_a_query_site_id_is_checked_and_carried_like_the_header(client, aliased):
    ControlCommandFactory(miner=aliased.miners_a_x[0], command_type=CommandType.REBOOT)
    headers = collector_headers(aliased.token_x, "")
    del headers["HTTP_X_SITE_ID"]
    assert client.get(f"{V1_POLL}?site_id=site_002", **headers).status_code == 403
    resp = client.get(f"{V1_POLL}?site_id=17", **headers)
    assert [c["site_id"] for c in resp.json()["commands"]] == ["17"]


def test_without_any_site_id_the_commands_carry_the_site_code(client, aliased):
    ControlCommandFactory(miner=aliased.miners_a_x[0], command_type=CommandType.REBOOT)
    headers = collector_headers(aliased.token_x, "")
    del headers["HTTP_X_SITE_ID"]
    assert [c["site_id"] for c in client.get(V1_POLL, **headers).json()["commands"]] == ["SITE-X"]


@pytest.mark.parametrize(
    "value", ["site_002", "SITE-Y", "never-registered"], ids=["other-alias", "other-code", "unknown"]
)
@pytest.mark.parametrize("where", ["header", "path"])
def test_another_sites_name_or_an_unknown_one_is_403_and_leases_nothing(client, aliased, value, where):
    cmd = ControlCommandFactory(miner=aliased.miners_a_x[0], command_type=CommandType.REBOOT)
    if where == "header":
        resp = client.get(V1_POLL, **collector_headers(aliased.token_x, value))
    else:
        resp = client.get(f"{LEGACY_POLL}/{value}", **collector_headers(aliased.token_x, "SITE-X"))
    assert resp.status_code == 403 and resp.json()["error_code"] == "SITE_MISMATCH"
    cmd.refresh_from_db()
    assert cmd.state == CommandState.QUEUED


def test_an_ack_sent_with_another_sites_alias_is_403_and_decides_nothing(client, aliased):
    cmd = ControlCommandFactory(miner=aliased.miners_a_x[0], command_type=CommandType.DISABLE_HASHING)
    (wire,) = client.get(V1_POLL, **collector_headers(aliased.token_x, CONFIGURED)).json()["commands"]
    resp = client.post(
        V1_ACK.format(wire["command_id"]),
        _ack_body(wire),
        content_type="application/json",
        **collector_headers(aliased.token_x, "site_002"),
    )
    assert resp.status_code == 403
    cmd.refresh_from_db()
    assert cmd.state == CommandState.DISPATCHED


def test_the_signature_covers_the_alias_the_collector_is_handed(client, aliased):
    ControlCommandFactory(miner=aliased.miners_a_x[0], command_type=CommandType.SET_FAN, params={"speed": 80})
    secret = command_signing_set(actor=SETUP, site=aliased.site_x, enabled=True)["edge-x"]
    (wire,) = client.get(V1_POLL, **collector_headers(aliased.token_x, CONFIGURED)).json()["commands"]
    assert wire["site_id"] == CONFIGURED and command_signature_valid(wire, secret)
    assert not command_signature_valid(wire | {"site_id": "SITE-X"}, secret)


def test_polling_by_alias_costs_the_same_queries_as_by_code(client, aliased):
    """The aliases come with the token lookup: no query per command, none per request."""
    for miner in aliased.miners_a_x:
        ControlCommandFactory(miner=miner, command_type=CommandType.REBOOT)
    client.get(V1_POLL + "?limit=1", **collector_headers(aliased.token_x, "SITE-X"))  # first use writes
    with CaptureQueriesContext(connection) as by_code:
        assert len(client.get(V1_POLL + "?limit=1", **collector_headers(aliased.token_x, "SITE-X")).json()["commands"])
    with CaptureQueriesContext(connection) as by_alias:
        got = client.get(V1_POLL + "?limit=5", **collector_headers(aliased.token_x, CONFIGURED)).json()["commands"]
    assert len(got) == 1  # the one miner left
    assert len(by_alias) == len(by_code)


def test_the_operator_command_list_filters_by_a_site_alias(as_user, aliased, noc_x):
    cmd = ControlCommandFactory(miner=aliased.miners_a_x[0], command_type=CommandType.REBOOT)
    client = as_user(noc_x)
    by_alias = client.get("/api/admin/v1/commands?site_id=17").json()["results"]
    assert [c["id"] for c in by_alias] == [cmd.pk]
    assert client.get("/api/admin/v1/commands?site_id=site_002").json()["results"] == []
