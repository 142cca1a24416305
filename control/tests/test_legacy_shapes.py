"""Contract tests: the original application's operator command routes (/api/collector/commands…),
called with the body its pages sent (integer site id, enable / disable / restart, `parameters`,
`ttl_minutes`), answer the keys and types those callers read, through the same services as v1."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.services import Actor
from control.models import Command
from tenants.models import SiteAlias
from tenants.site_identity import site_alias_add

pytestmark = pytest.mark.usefixtures("no_blast_radius_cap")

TO_DICT = {
    "id": int,
    "miner_id": str,
    "site_id": int,
    "ip_address": type(None),
    "command_type": str,
    "command_desc": str,
    "parameters": dict,
    "status": str,
    "status_desc": str,
    "priority": int,
    "created_at": str,
    "expires_at": str,
    "sent_at": type(None),
    "executed_at": type(None),
    "result_code": type(None),
    "result_message": type(None),
    "operator_id": int,
    "retry_count": int,
    "max_retries": int,
}


@pytest.fixture
def legacy_x(world):
    site_alias_add(actor=Actor.system("test"), site=world.site_x, value="17", kind=SiteAlias.Kind.LEGACY_ID)
    return world


def post(client, path, body):
    return client.post(path, body, content_type="application/json")


def original_create(client, miner, command_type, **extra):
    return post(
        client,
        "/api/collector/commands",
        {"miner_id": miner.miner_id, "site_id": 17, "command_type": command_type, **extra},
    )


def test_create_with_the_originals_body_answers_its_command_dict(as_user, legacy_x, noc_x):
    miner = legacy_x.miners_a_x[0]
    r = original_create(
        as_user(noc_x), miner, "set_fan", parameters={"speed": 40}, priority=7, ttl_minutes=10, ip_address="10.0.0.9"
    )
    assert r.status_code == 200, r.json()
    body = r.json()
    assert (body["success"], body["message"]) == (True, "Command created successfully")
    command = body["command"]
    assert set(command) == set(TO_DICT)
    for name, kind in TO_DICT.items():
        assert isinstance(command[name], kind), name
    assert (command["site_id"], command["command_type"], command["parameters"], command["status"]) == (
        17,
        "set_fan",
        {"speed": 40},
        "pending",
    )
    stored = Command.objects.get(pk=command["id"])
    assert (stored.params, stored.ttl_sec, stored.priority) == ({"speed": 40}, 600, 7)


@pytest.mark.parametrize(
    ("original", "cloud"), [("enable", "enable_hashing"), ("disable", "disable_hashing"), ("restart", "reboot")]
)
def test_the_originals_command_names_map_through_the_alias_table(as_user, legacy_x, noc_x, original, cloud):
    r = original_create(as_user(noc_x), legacy_x.miners_a_x[0], original)
    assert r.status_code == 200, r.json()
    assert r.json()["command"]["command_type"] == original
    assert Command.objects.get(pk=r.json()["command_id"]).command_type == cloud


def test_an_unknown_command_name_is_refused_naming_the_field(as_user, legacy_x, noc_x):
    r = original_create(as_user(noc_x), legacy_x.miners_a_x[0], "overclock")
    assert r.status_code == 400
    assert (r.json()["success"], r.json()["field"]) == (False, "command_type")


def test_batch_answers_count_and_command_ids(as_user, legacy_x, noc_x):
    r = post(
        as_user(noc_x),
        "/api/collector/commands/batch",
        {
            "miner_ids": [m.miner_id for m in legacy_x.miners_b_x],
            "site_id": 17,
            "command_type": "disable",
            "parameters": {},
            "priority": 5,
            "ttl_minutes": 30,
        },
    )
    assert r.status_code == 200, r.json()
    body = r.json()
    assert (body["success"], body["count"], body["message"]) == (True, 2, "2 commands created successfully")
    assert all(isinstance(i, int) for i in body["command_ids"])
    assert set(Command.objects.filter(pk__in=body["command_ids"]).values_list("ttl_sec", flat=True)) == {1800}


def test_history_filters_by_the_originals_status_and_counts(as_user, legacy_x, noc_x):
    client = as_user(noc_x)
    first = original_create(client, legacy_x.miners_a_x[0], "enable").json()["command_id"]
    original_create(client, legacy_x.miners_a_x[1], "enable")
    client.delete(f"/api/collector/commands/{first}")
    body = client.get("/api/collector/commands/history", {"site_id": 17, "status": "pending"}).json()
    assert (body["success"], body["count"]) == (True, 1)
    assert set(body["commands"][0]) == set(TO_DICT) and body["commands"][0]["status"] == "pending"
    cancelled = client.get("/api/collector/commands/history", {"status": "cancelled", "limit": 5}).json()
    assert [c["id"] for c in cancelled["commands"]] == [first]


def test_stats_answers_the_originals_status_counts(as_user, legacy_x, noc_x):
    client = as_user(noc_x)
    first = original_create(client, legacy_x.miners_a_x[0], "enable").json()["command_id"]
    original_create(client, legacy_x.miners_a_x[1], "enable")
    client.delete(f"/api/collector/commands/{first}")
    body = client.get("/api/collector/commands/stats", {"site_id": 17}).json()
    assert (body["stats"], body["active_pending"], body["total"]) == ({"pending": 1, "cancelled": 1}, 1, 2)


def test_delete_answers_the_originals_message(as_user, legacy_x, noc_x):
    client = as_user(noc_x)
    pk = original_create(client, legacy_x.miners_a_x[0], "enable").json()["command_id"]
    body = client.delete(f"/api/collector/commands/{pk}").json()
    assert (body["success"], body["message"], body["state"]) == (True, "Command cancelled successfully", "canceled")


@pytest.mark.parametrize("path", ["/api/collector/commands/history", "/api/collector/commands/stats"])
def test_another_sites_integer_id_is_forbidden_like_a_missing_one(as_user, world, noc_x, path):
    client = as_user(noc_x)
    other, missing = client.get(path, {"site_id": world.site_y.pk}), client.get(path, {"site_id": 99999999})
    assert other.status_code == missing.status_code == 403
    assert other.json() == missing.json()


def test_creating_at_another_sites_integer_id_is_forbidden(as_user, world, noc_x):
    r = post(
        as_user(noc_x),
        "/api/collector/commands",
        {"miner_id": world.miners_b_y[0].miner_id, "site_id": world.site_y.pk, "command_type": "enable"},
    )
    assert r.status_code == 403
    assert not Command.objects.exists()


def test_a_customer_session_may_not_use_the_operator_command_routes(as_user, legacy_x, customer_a):
    client = as_user(customer_a)
    assert original_create(client, legacy_x.miners_a_x[0], "enable").status_code == 403
    assert client.get("/api/collector/commands/history").status_code == 403


def test_history_costs_the_same_queries_for_more_commands(as_user, legacy_x, noc_x):
    client = as_user(noc_x)
    original_create(client, legacy_x.miners_a_x[0], "enable")
    client.get("/api/collector/commands/history")
    with CaptureQueriesContext(connection) as few:
        client.get("/api/collector/commands/history")
    for m in legacy_x.miners_a_x[1:] + legacy_x.miners_b_x:
        original_create(client, m, "enable")
    with CaptureQueriesContext(connection) as more:
        assert client.get("/api/collector/commands/history").json()["count"] == 5
    assert len(more.captured_queries) == len(few.captured_queries)
