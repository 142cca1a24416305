"""Contract tests of the original application's remote-control routes (/api/sites/<id>/commands,
/api/commands/<id>[/cancel|/approve]): requests as its pages sent them (miner_detail.html),
the keys, types and status codes they read."""

import uuid

import pytest

from control.models import Command, CommandState
from control.tests.factories import operator_command as make
from control.tests.test_legacy_v1_commands import assert_command, post

pytestmark = pytest.mark.usefixtures("no_blast_radius_cap")
S = CommandState


def create(client, miners, site="SITE-X", **extra):
    body = {"command_type": "REBOOT", "payload": {"mode": "soft"}, "target_ids": [m.miner_id for m in miners], **extra}
    return post(client, f"/api/sites/{site}/commands", body)


def test_create_answers_success_command_message_and_the_deprecation_block(as_user, world, noc_x):
    r = create(as_user(noc_x), world.miners_a_x[:2])
    assert r.status_code == 201, r.json()
    body = r.json()
    assert set(body) == {"success", "command", "message", "_deprecation"}
    assert (body["success"], body["message"]) == (True, "Command pending approval")
    assert_command(body["command"], results=True)
    assert [x["result_status"] for x in body["command"]["results"]] == ["PENDING", "PENDING"]
    assert r["Deprecation"] == "true" and "successor-version" in r["Link"]


def test_create_with_an_idempotency_key_answers_the_same_command_again(as_user, world, noc_x):
    client = as_user(noc_x)
    first = create(client, world.miners_a_x[:1], idempotency_key="page-42")
    again = create(client, world.miners_a_x[:1], idempotency_key="page-42")
    assert (first.status_code, again.status_code) == (201, 200)
    assert set(again.json()) == {"command"} and again.json()["command"]["id"] == first.json()["command"]["id"]
    assert Command.objects.count() == 1


def test_create_is_refused_to_customers_and_at_another_site(as_user, world, noc_x, customer_a):
    r = create(as_user(customer_a), world.miners_a_x[:1])
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")
    r = create(as_user(noc_x), world.miners_b_y[:1], site="SITE-Y")
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")
    r = post(as_user(noc_x), "/api/sites/SITE-X/commands", {"command_type": "REBOOT", "target_ids": []})
    assert (r.status_code, r.json()["field"]) == (400, "target_ids")
    assert not Command.objects.exists()


def test_list_answers_commands_with_results_total_limit_offset(as_user, world, noc_x, noc_y, customer_a):
    client = as_user(noc_x)
    create(client, world.miners_a_x[:2])
    make(noc_x, world.miners_b_x[0])
    make(noc_y, world.miners_b_y[0])
    body = client.get("/api/sites/SITE-X/commands", {"limit": 500}).json()
    assert set(body) == {"commands", "total", "limit", "offset", "_deprecation"}
    assert (body["total"], body["limit"], body["offset"]) == (2, 100, 0)
    for command in body["commands"]:
        assert_command(command, results=True)
    assert client.get("/api/sites/SITE-X/commands", {"status": "QUEUED"}).json()["total"] == 1
    r = client.get("/api/sites/SITE-Y/commands")
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")
    # Customers read (the original's REMOTE_CONTROL_AUDIT: READ): their own miners' commands only.
    mine = as_user(customer_a).get("/api/sites/SITE-X/commands").json()
    assert mine["total"] == 1 and mine["commands"][0]["target_ids"] == [m.miner_id for m in world.miners_a_x[:2]]


def test_get_cancel_and_approve_by_the_original_ids(as_user, world, noc_x, ops_manager_x):
    client = as_user(noc_x)
    proposed = create(client, world.miners_a_x[:2]).json()["command"]["id"]
    queued = make(noc_x, world.miners_a_x[2])  # a command without a batch: its integer id
    body = client.get(f"/api/commands/{proposed}").json()
    assert set(body) == {"command", "_deprecation"} and body["command"]["status"] == "PENDING_APPROVAL"
    assert client.get(f"/api/commands/{queued.pk}").json()["command"]["target_ids"] == [world.miners_a_x[2].miner_id]

    r = post(client, f"/api/commands/{queued.pk}/cancel")
    assert r.status_code == 200 and set(r.json()) == {"success", "command", "_deprecation"}
    assert r.json()["command"]["status"] == "CANCELLED"
    assert r.json()["command"]["results"][0]["result_status"] == "SKIPPED"
    r = post(client, f"/api/commands/{queued.pk}/cancel")
    assert (r.status_code, r.json()["error_code"]) == (409, "INVALID_TRANSITION")

    r = post(client, f"/api/commands/{proposed}/approve")
    assert (r.status_code, r.json()["error_code"]) == (403, "SELF_APPROVAL")
    r = post(as_user(ops_manager_x), f"/api/commands/{proposed}/approve")
    assert r.status_code == 200, r.json()
    command = r.json()["command"]
    assert command["status"] == "QUEUED" and command["dispatch"] == {
        "dispatched": 2,
        "errors": 0,
        "error_details": None,
    }


def test_customers_read_but_never_decide(as_user, world, noc_x, customer_a, customer_b):
    command_id = create(as_user(noc_x), world.miners_a_x[:1]).json()["command"]["id"]
    assert as_user(customer_a).get(f"/api/commands/{command_id}").status_code == 200
    for path in (f"/api/commands/{command_id}/cancel", f"/api/commands/{command_id}/approve"):
        r = post(as_user(customer_a), path)
        assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")
    r = as_user(customer_b).get(f"/api/commands/{command_id}")
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")
    assert Command.objects.get().state == S.PROPOSED


def test_a_foreign_or_malformed_id_looks_like_a_missing_one(as_user, world, noc_x, noc_y, client):
    theirs = create(as_user(noc_y), world.miners_b_y[:1], site="SITE-Y").json()["command"]["id"]
    c = as_user(noc_x)
    for path in (f"/api/commands/{theirs}", f"/api/commands/{uuid.uuid4()}", "/api/commands/not-an-id"):
        assert (c.get(path).status_code, c.get(path).json()["error_code"]) == (403, "FORBIDDEN")
    c.logout()
    assert client.get(f"/api/commands/{theirs}").status_code == 401
