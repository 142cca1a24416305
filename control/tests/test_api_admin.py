"""Operator command API over HTTP: create / batch / dry run, list and detail, approve / reject /
cancel / rollback, the legacy paths — and the one rule for denial per persona."""

import pytest
from django.urls import resolve

from audit.services import Actor
from control.models import Command, CommandState
from control.services import decisions
from control.tests.factories import ControlCommandFactory
from control.tests.factories import operator_command as make
from tenants.models import MinerGroup

pytestmark = pytest.mark.usefixtures("no_blast_radius_cap")
S = CommandState
V1 = "/api/admin/v1/commands"


def post(client, path, body):
    return client.post(path, body, content_type="application/json")


# --- create ----------------------------------------------------------------------------------------


def test_an_operator_creates_a_command(as_user, world, noc_x):
    miner = world.miners_a_x[0]
    r = post(
        as_user(noc_x),
        V1,
        {
            "site_id": "SITE-X",
            "miner_id": miner.miner_id,
            "command_type": "set_pool",
            "params": {"pool_url": "stratum+tcp://p:3333", "pool_user": "a.w", "pool_password": "s3cret"},
            "priority_class": "efficiency",
            "reason": "move pool",
        },
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert (body["state"], body["site_id"], body["miner_id"], body["priority_class"], body["created_by"]) == (
        "queued",
        "SITE-X",
        miner.miner_id,
        "efficiency",
        "noc-x",
    )
    assert body["params"]["pool_password"] == "***" and "s3cret" not in r.content.decode()
    assert Command.objects.get(pk=body["id"]).params["pool_password"] == "s3cret"


def test_a_replayed_create_with_a_dedupe_key_answers_200_with_the_same_command(as_user, world, noc_x):
    body = {
        "site_id": "SITE-X",
        "miner_id": world.miners_a_x[0].miner_id,
        "command_type": "enable_hashing",
        "dedupe_key": "ops-42",
    }
    first, again = post(as_user(noc_x), V1, body), post(as_user(noc_x), V1, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"command_type": "set_fan"}, "site_id"),
        ({"site_id": "SITE-X", "command_type": "set_fan", "params": {"speed": 5}}, "miner_id"),
        ({"site_id": "SITE-X", "miner_id": "M", "command_type": "set_fan", "params": {"speed": 500}}, "params.speed"),
        ({"site_id": "SITE-X", "miner_id": "M", "command_type": "warp", "params": {}}, "command_type"),
        (
            {"site_id": "SITE-X", "miner_id": "M", "command_type": "set_fan", "priority_class": "urgent"},
            "priority_class",
        ),
    ],
)
def test_invalid_requests_answer_invalid_params_naming_the_field(as_user, world, noc_x, body, field):
    body = {k: (world.miners_a_x[0].miner_id if v == "M" else v) for k, v in body.items()}
    r = post(as_user(noc_x), V1, body)
    assert r.status_code == 400
    assert (r.json()["error_code"], r.json()["field"]) == ("INVALID_PARAMS", field)


def test_power_off_answers_422_unsupported_by_site(as_user, world, noc_x):
    r = post(
        as_user(noc_x), V1, {"site_id": "SITE-X", "miner_id": world.miners_a_x[0].miner_id, "command_type": "power_off"}
    )
    assert (r.status_code, r.json()["error_code"]) == (422, "UNSUPPORTED_BY_SITE")


def test_a_dry_run_previews_a_group_batch_and_creates_nothing(as_user, world, noc_x):
    group = MinerGroup.objects.create(site=world.site_x, name="row-1")
    group.miners.set(world.miners_a_x)
    r = post(as_user(noc_x), V1, {"site_id": "SITE-X", "group": "row-1", "command_type": "reboot", "dry_run": True})
    assert r.status_code == 200
    body = r.json()
    assert (body["dry_run"], body["state"], body["approval_required"], body["estimated_kw"]) == (
        True,
        "proposed",
        True,
        10.5,
    )
    assert sorted(m["miner_id"] for m in body["miners"]) == sorted(m.miner_id for m in world.miners_a_x)
    assert not Command.objects.exists()


def test_a_batch_answers_its_batch_id_commands_and_skips(as_user, world, noc_x):
    ControlCommandFactory(miner=world.miners_a_x[0], state=S.DISPATCHED, lease_epoch=1)
    ids = [m.miner_id for m in world.miners_a_x]
    r = post(
        as_user(noc_x), V1, {"site_id": "SITE-X", "miners": ids, "command_type": "set_fan", "params": {"speed": 70}}
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert [c["miner_id"] for c in body["created"]] == ids[1:]
    assert {c["batch_id"] for c in body["created"]} == {body["batch_id"]}
    assert [(s["miner_id"], s["error_code"]) for s in body["skipped"]] == [(ids[0], "MINER_LOCKED")]
    listed = as_user(noc_x).get(V1, {"batch_id": body["batch_id"]}).json()["results"]
    assert len(listed) == 2


def test_a_miner_of_another_site_in_a_batch_is_forbidden(as_user, world, noc_x):
    ids = [world.miners_a_x[0].miner_id, world.miners_b_y[0].miner_id]
    r = post(
        as_user(noc_x), V1, {"site_id": "SITE-X", "miners": ids, "command_type": "set_fan", "params": {"speed": 1}}
    )
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")
    assert not Command.objects.exists()


# --- read ------------------------------------------------------------------------------------------


def test_the_list_is_scoped_filtered_and_its_query_count_is_flat(
    as_user, world, noc_x, noc_y, django_assert_num_queries
):
    for m in world.miners_a_x:
        make(noc_x, m)
    theirs = make(noc_y, world.miners_b_y[0])
    client = as_user(noc_x)
    client.get(V1)  # warm the session
    with django_assert_num_queries(4):  # session, user, grants, one page (cursor pagination: no COUNT)
        r = client.get(V1, {"site_id": "SITE-X", "state": "queued", "type": "set_fan"})
    ids = [c["id"] for c in r.json()["results"]]
    assert len(ids) == 3 and theirs.pk not in ids
    assert client.get(V1, {"site_id": "SITE-Y"}).json()["results"] == []
    assert [c["miner_id"] for c in client.get(V1, {"miner_id": world.miners_a_x[1].miner_id}).json()["results"]] == [
        world.miners_a_x[1].miner_id
    ]


def test_the_detail_shows_attempts_acks_and_the_audit_timeline(as_user, world, noc_x, ops_manager_x):
    c = make(noc_x, world.miners_a_x[0], "reboot", reason="stuck")
    decisions.command_approve(actor=Actor.user(ops_manager_x), user=ops_manager_x, command=c, reason="ok")
    body = as_user(noc_x).get(f"{V1}/{c.pk}").json()
    assert body["state"] == "queued" and body["approved_by"] == "opsmgr-x"
    assert [e["action"] for e in body["events"]] == [
        "control.command.created",
        "control.command.approved",
        "control.command.queued",
    ]
    assert body["attempts"] == [] and body["acks"] == []


# --- decisions -------------------------------------------------------------------------------------


def test_approve_and_reject_over_http(as_user, world, noc_x, ops_manager_x):
    a, b = make(noc_x, world.miners_a_x[0], "reboot"), make(noc_x, world.miners_a_x[1], "reboot")
    client = as_user(noc_x)
    r = post(client, f"{V1}/{a.pk}/approve", {"reason": "mine"})
    assert (r.status_code, r.json()["error_code"]) == (403, "SELF_APPROVAL")
    client = as_user(ops_manager_x)
    assert post(client, f"{V1}/{a.pk}/approve", {}).json()["error_code"] == "INVALID_PARAMS"
    assert post(client, f"{V1}/{a.pk}/approve", {"reason": "ok"}).json()["state"] == "queued"
    assert post(client, f"{V1}/{b.pk}/reject", {"reason": "no"}).json()["state"] == "rejected"
    r = post(client, f"{V1}/{b.pk}/approve", {"reason": "ok"})
    assert (r.status_code, r.json()["error_code"]) == (409, "INVALID_TRANSITION")


def test_cancel_and_rollback_over_http(as_user, world, noc_x):
    queued = make(noc_x, world.miners_a_x[0])
    client = as_user(noc_x)
    assert post(client, f"{V1}/{queued.pk}/cancel", {"reason": "typo"}).json()["state"] == "canceled"
    done = ControlCommandFactory(miner=world.miners_a_x[1], command_type="disable_hashing", state=S.SUCCEEDED)
    r = post(client, f"/api/v1/commands/{done.pk}/rollback", {"reason": "undo"})
    assert r.status_code == 201
    assert (r.json()["command_type"], r.json()["rollback_of"]) == ("enable_hashing", done.pk)
    r = post(client, f"{V1}/{queued.pk}/rollback", {"reason": "undo"})
    assert (r.status_code, r.json()["error_code"]) == (409, "INVALID_TRANSITION")


# --- denial ----------------------------------------------------------------------------------------


def test_anonymous_callers_get_401(client, world):
    assert client.get(V1).status_code == 401
    assert client.post(f"{V1}/1/approve").status_code == 401


def test_customers_get_403_even_for_their_own_miners(as_user, world, noc_x, customer_a):
    own = make(noc_x, world.miners_a_x[0])
    client = as_user(customer_a)
    for r in (
        client.get(V1),
        client.get(f"{V1}/{own.pk}"),
        post(
            client,
            V1,
            {
                "site_id": "SITE-X",
                "miner_id": world.miners_a_x[0].miner_id,
                "command_type": "set_fan",
                "params": {"speed": 1},
            },
        ),
    ):
        assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")


def test_another_sites_command_looks_exactly_like_a_missing_one(as_user, world, noc_x, noc_y):
    theirs = make(noc_y, world.miners_b_y[0], "reboot")
    client = as_user(noc_x)
    for suffix, method in (("", "get"), ("/approve", "post"), ("/cancel", "post"), ("/rollback", "post")):
        foreign = (
            getattr(client, method)(f"{V1}/{theirs.pk}{suffix}", {"reason": "x"}, content_type="application/json")
            if method == "post"
            else client.get(f"{V1}/{theirs.pk}")
        )
        missing = (
            getattr(client, method)(f"{V1}/999999{suffix}", {"reason": "x"}, content_type="application/json")
            if method == "post"
            else client.get(f"{V1}/999999")
        )
        assert (foreign.status_code, foreign.json()) == (missing.status_code, missing.json()) == (403, missing.json())
        assert foreign.json()["error_code"] == "FORBIDDEN"
    assert Command.objects.get(pk=theirs.pk).state == S.PROPOSED
    r = post(
        client,
        V1,
        {
            "site_id": "SITE-Y",
            "miner_id": world.miners_b_y[0].miner_id,
            "command_type": "set_fan",
            "params": {"speed": 1},
        },
    )
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")


# --- legacy ----------------------------------------------------------------------------------------


def test_legacy_paths_create_cancel_list_and_count(as_user, world, noc_x):
    client = as_user(noc_x)
    r = post(
        client,
        "/api/collector/commands",
        {"site_id": "SITE-X", "miner_id": world.miners_a_x[0].miner_id, "command": "set_fan", "params": {"speed": 40}},
    )
    assert r.status_code == 200 and r.json()["success"] is True  # the original answered 200
    pk = r.json()["command_id"]
    r = post(
        client,
        "/api/collector/commands/batch",
        {"site_id": "SITE-X", "miner_ids": [m.miner_id for m in world.miners_b_x], "action": "enable_hashing"},
    )
    assert r.status_code == 200 and len(r.json()["created"]) == r.json()["count"] == 2
    r = client.delete(f"/api/collector/commands/{pk}?reason=oops")
    assert r.json() == {
        "success": True,
        "message": "Command cancelled successfully",
        "command_id": pk,
        "state": "canceled",
    }
    assert len(client.get("/api/collector/commands/history").json()["commands"]) == 3
    stats = client.get("/api/collector/commands/stats", {"site_id": "SITE-X"}).json()
    assert (stats["total"], stats["by_state"], stats["by_type"]) == (
        3,
        {"canceled": 1, "queued": 2},
        {"set_fan": 1, "enable_hashing": 2},
    )
    assert client.get("/api/collector/commands/stats", {"site_id": "SITE-Y"}).status_code == 403


def test_the_collectors_own_command_paths_are_not_shadowed():
    assert resolve("/api/collector/commands/pending").url_name == "collector-commands-pending"
    assert resolve("/api/collector/commands/ack").url_name == "collector-commands-ack"
    assert resolve("/api/collector/commands/12/result").url_name == "collector-command-result"
    assert resolve("/api/collector/commands/12").url_name == "collector-command-cancel"
