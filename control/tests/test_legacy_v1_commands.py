"""Contract tests of the original application's command routes (docs/COMPATIBILITY.md): each
request as the original's client sent it, asserting the keys, types and status codes it read."""

import uuid

import pytest

from audit.services import Actor
from control.models import Command, CommandState, ConsentPolicy
from control.services import consent
from control.tests.factories import ControlCommandFactory
from control.tests.factories import operator_command as make
from tenants.models import SiteAlias
from tenants.site_identity import site_alias_add

pytestmark = pytest.mark.usefixtures("no_blast_radius_cap")
S = CommandState
V1 = "/api/v1/commands"
COMMAND_KEYS = {
    "id",
    "tenant_id",
    "site_id",
    "zone_id",
    "customer_id",
    "requested_by_user_id",
    "requested_by_role",
    "command_type",
    "payload",
    "target_scope",
    "target_ids",
    "status",
    "require_approval",
    "approved_by_user_id",
    "approved_at",
    "expires_at",
    "created_at",
    "updated_at",
}
RESULT_KEYS = {
    "id",
    "command_id",
    "edge_device_id",
    "miner_id",
    "started_at",
    "finished_at",
    "result_status",
    "result_message",
    "metrics",
    "created_at",
}


def post(client, path, body=None):
    return client.post(path, body or {}, content_type="application/json")


def propose(client, miners, command_type="REBOOT", payload=None, site_id="SITE-X"):
    body = {
        "site_id": site_id,
        "command_type": command_type,
        "payload": {"mode": "soft"} if payload is None else payload,
        "target_ids": [m.miner_id for m in miners],
        "ttl_seconds": 3600,
    }
    return post(client, f"{V1}/propose", body)


def assert_command(command, *, results=False):
    assert set(command) == COMMAND_KEYS | ({"results", "result_summary"} if results else set())
    assert isinstance(command["id"], str) and isinstance(command["target_ids"], list)
    assert isinstance(command["require_approval"], bool) and isinstance(command["payload"], dict)
    if results:
        assert all(set(r) == RESULT_KEYS for r in command["results"])
        assert set(command["result_summary"]) == {"total", "succeeded", "failed", "pending", "skipped"}


# --- /api/v1/commands/propose ---------------------------------------------------------------------


def test_propose_answers_the_original_keys_and_one_id_for_all_targets(as_user, world, noc_x):
    r = propose(as_user(noc_x), world.miners_a_x[:2])
    assert r.status_code == 201, r.json()
    body = r.json()
    assert set(body) == {
        "success",
        "command_id",
        "status",
        "require_approval",
        "require_dual_approval",
        "steps_required",
    }
    assert (body["success"], body["status"], body["require_approval"]) == (True, "PENDING_APPROVAL", True)
    assert (body["require_dual_approval"], body["steps_required"]) == (False, 1)
    batch = uuid.UUID(body["command_id"])
    commands = Command.objects.filter(batch_id=batch)
    assert sorted(c.miner.miner_id for c in commands) == sorted(m.miner_id for m in world.miners_a_x[:2])
    assert {c.command_type for c in commands} == {"reboot"} and {c.ttl_sec for c in commands} == {3600}


def test_propose_maps_the_original_types_and_payload_keys(as_user, world, noc_x):
    client = as_user(noc_x)
    r = propose(client, world.miners_a_x[:1], "SET_FREQ", {"frequency_mhz": 500, "profile": "stock"})
    assert (r.status_code, r.json()["status"], r.json()["steps_required"]) == (201, "QUEUED", 0)
    command = Command.objects.get(batch_id=r.json()["command_id"])
    assert (command.command_type, command.params) == ("set_frequency", {"frequency": 500})
    r = propose(client, world.miners_a_x[1:2], "CHANGE_POOL", {"pool_url": "stratum+tcp://p:1", "worker_name": "a.1"})
    assert Command.objects.get(batch_id=r.json()["command_id"]).params == {
        "pool_url": "stratum+tcp://p:1",
        "pool_user": "a.1",
    }
    r = propose(client, world.miners_a_x[:1], "LED", {"state": "on"})
    assert (r.status_code, r.json()["error_code"], r.json()["field"]) == (400, "INVALID_PARAMS", "command_type")
    assert "error" in r.json()


def test_propose_takes_the_original_numeric_site_id_through_its_alias(as_user, world, noc_x):
    site_alias_add(actor=Actor.system("test"), site=world.site_x, value="17", kind=SiteAlias.Kind.LEGACY_ID)
    r = propose(as_user(noc_x), world.miners_a_x[:1], site_id=17)
    assert r.status_code == 201, r.json()


def test_propose_is_refused_to_customers_and_outside_the_scope(as_user, world, noc_x, customer_a):
    r = propose(as_user(customer_a), world.miners_a_x[:1])  # no consent policy: customers propose nothing
    assert (r.status_code, r.json()["error_code"]) == (403, "PROPOSAL_NOT_ALLOWED")
    r = propose(as_user(noc_x), world.miners_b_y[:1], site_id="SITE-Y")
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")
    r = propose(as_user(noc_x), world.miners_b_y[:1])  # a miner of Y named at X
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")
    assert not Command.objects.exists()


# --- approve (steps), deny ---------------------------------------------------------------------


def test_approve_with_the_operators_step(as_user, world, noc_x, ops_manager_x):
    command_id = propose(as_user(noc_x), world.miners_a_x[:2]).json()["command_id"]
    r = post(as_user(noc_x), f"{V1}/{command_id}/approve", {"reason": "mine", "step": 1})
    assert (r.status_code, r.json()["error_code"]) == (403, "SELF_APPROVAL")
    client = as_user(ops_manager_x)
    r = post(client, f"{V1}/{command_id}/approve", {"reason": "owner asked", "step": 2})
    assert (r.status_code, r.json()["error_code"], r.json()["field"]) == (403, "OWNER_APPROVAL_ONLY", "step")
    r = post(client, f"{V1}/{command_id}/approve", {"reason": "?", "step": 3})
    assert (r.status_code, r.json()["error_code"], r.json()["field"]) == (400, "APPROVAL_STEP_UNSUPPORTED", "step")
    r = post(client, f"{V1}/{command_id}/approve", {"reason": "ok", "step": 1})
    assert r.status_code == 200, r.json()
    assert r.json() == {"success": True, "command_status": "QUEUED", "approvals_count": 1, "steps_required": 1}
    assert set(Command.objects.filter(batch_id=command_id).values_list("state", flat=True)) == {S.QUEUED}
    r = post(client, f"{V1}/{command_id}/approve", {})  # the original answered 400 here; this project 409
    assert (r.status_code, r.json()["error_code"]) == (409, "INVALID_TRANSITION")


def test_approve_without_a_reason_as_the_original_client_sent_it(as_user, world, noc_x, ops_manager_x):
    command_id = propose(as_user(noc_x), world.miners_a_x[:1]).json()["command_id"]
    r = post(as_user(ops_manager_x), f"{V1}/{command_id}/approve")
    assert (r.status_code, r.json()["command_status"]) == (200, "QUEUED")


def test_deny_cancels_the_proposal_and_works_on_integer_ids_too(as_user, world, noc_x, ops_manager_x):
    command_id = propose(as_user(noc_x), world.miners_a_x[:2]).json()["command_id"]
    client = as_user(ops_manager_x)
    r = post(client, f"{V1}/{command_id}/deny", {"reason": "not now"})
    assert (r.status_code, r.json()) == (200, {"success": True, "command_status": "CANCELLED"})
    assert set(Command.objects.filter(batch_id=command_id).values_list("state", flat=True)) == {S.REJECTED}
    lone = make(noc_x, world.miners_a_x[2], "reboot")
    r = post(client, f"{V1}/{lone.pk}/deny", {"reason": "no"})
    assert (r.status_code, r.json()["command_status"]) == (200, "CANCELLED")


def test_dual_approval_reports_the_owners_step_truthfully(as_user, world, noc_x, ops_manager_x, customer_a):
    ConsentPolicy.objects.create(tenant=world.tenant_a, consent_types=["reboot"])
    body = propose(as_user(noc_x), world.miners_a_x[:2]).json()
    assert (body["status"], body["require_dual_approval"], body["steps_required"]) == ("PENDING_APPROVAL", True, 2)
    command_id = body["command_id"]
    r = post(as_user(ops_manager_x), f"{V1}/{command_id}/approve", {"reason": "ok", "step": 1})
    assert r.json() == {
        "success": True,
        "command_status": "PENDING_APPROVAL",
        "approvals_count": 1,
        "steps_required": 2,
    }
    got = as_user(noc_x).get(f"{V1}/{command_id}").json()
    assert [(a["step"], a["step_name"], a["decision"]) for a in got["approvals"]] == [
        (1, "ops_approval", "APPROVE")
    ] * 2
    first, second = Command.objects.filter(batch_id=command_id).order_by("pk")
    consent.command_owner_approve(actor=Actor.user(customer_a), user=customer_a, command=first, reason="yes")
    consent.command_owner_deny(actor=Actor.user(customer_a), user=customer_a, command=second, reason="not that one")
    got = as_user(noc_x).get(f"{V1}/{command_id}").json()
    assert [(a["step"], a["decision"], a["reason"]) for a in got["approvals"]] == [
        (1, "APPROVE", "ok"),
        (2, "APPROVE", "yes"),
        (1, "APPROVE", "ok"),
        (2, "DENY", "not that one"),
    ]
    assert got["command"]["status"] == "QUEUED"


# --- rollback --------------------------------------------------------------------------------------


def test_rollback_answers_the_original_keys_with_one_id_for_the_rollbacks(as_user, world, noc_x):
    batch = uuid.uuid4()
    for m in world.miners_a_x[:2]:
        ControlCommandFactory(miner=m, command_type="enable_hashing", state=S.SUCCEEDED, batch_id=batch)
    r = post(as_user(noc_x), f"{V1}/{batch}/rollback", {"reason": "undo"})
    assert r.status_code == 201, r.json()
    body = r.json()
    assert set(body) == {
        "success",
        "rollback_command_id",
        "original_command_id",
        "status",
        "approval_required",
        "message",
    }
    assert body["original_command_id"] == str(batch) and body["status"] == "PENDING_APPROVAL"
    assert body["approval_required"] == {"require_approval": True, "require_dual_approval": False, "steps_required": 1}
    rollbacks = Command.objects.filter(batch_id=body["rollback_command_id"])
    assert {c.command_type for c in rollbacks} == {"disable_hashing"} and rollbacks.count() == 2
    assert set(Command.objects.filter(batch_id=batch).values_list("state", flat=True)) == {S.ROLLED_BACK}
    r = post(as_user(noc_x), f"{V1}/{batch}/rollback", {"reason": "again"})
    assert (r.status_code, r.json()["error_code"]) == (409, "INVALID_TRANSITION")


# --- get and list ----------------------------------------------------------------------------------


def test_get_answers_command_and_approvals(as_user, world, noc_x, ops_manager_x, customer_a, customer_b):
    command_id = propose(as_user(noc_x), world.miners_a_x[:2]).json()["command_id"]
    post(as_user(ops_manager_x), f"{V1}/{command_id}/approve", {"reason": "ok"})
    body = as_user(noc_x).get(f"{V1}/{command_id}").json()
    assert set(body) == {"command", "approvals"}
    assert_command(body["command"], results=True)
    assert (body["command"]["status"], body["command"]["command_type"], body["command"]["site_id"]) == (
        "QUEUED",
        "REBOOT",
        "SITE-X",
    )
    assert body["command"]["result_summary"]["total"] == 2
    assert [(a["decision"], a["step"]) for a in body["approvals"]] == [("APPROVE", 1), ("APPROVE", 1)]
    # The original let a customer read the commands of their own miners.
    assert as_user(customer_a).get(f"{V1}/{command_id}").status_code == 200
    r = as_user(customer_b).get(f"{V1}/{command_id}")
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")


def test_list_answers_commands_total_limit_offset(as_user, world, noc_x, noc_y, customer_b):
    client = as_user(noc_x)
    batch_id = propose(client, world.miners_a_x[:2]).json()["command_id"]
    lone = make(noc_x, world.miners_b_x[0])  # this project's own command, no batch
    make(noc_y, world.miners_b_y[0])
    body = client.get(V1, {"limit": 1, "offset": 0}).json()
    assert set(body) == {"commands", "total", "limit", "offset"}
    assert (body["total"], body["limit"], body["offset"]) == (2, 1, 0)
    assert [c["id"] for c in body["commands"]] == [str(lone.pk)]
    assert_command(body["commands"][0])
    body = client.get(V1, {"status": "PENDING_APPROVAL", "site_id": "SITE-X"}).json()
    assert [c["id"] for c in body["commands"]] == [batch_id] and body["commands"][0]["target_ids"] == [
        m.miner_id for m in world.miners_a_x[:2]
    ]
    assert client.get(V1, {"site_id": "SITE-Y"}).json()["total"] == 0
    # customer B sees the commands of B's miners only (at both sites)
    ids = [c["id"] for c in as_user(customer_b).get(V1).json()["commands"]]
    assert len(ids) == 2 and batch_id not in ids
    r = client.get(V1, {"status": "DONE"})
    assert (r.status_code, r.json()["error_code"], r.json()["field"]) == (400, "INVALID_PARAMS", "status")


def test_the_new_shapes_stay_on_integer_ids_and_the_admin_list(as_user, world, noc_x):
    c = make(noc_x, world.miners_a_x[0])
    client = as_user(noc_x)
    assert client.get(f"{V1}/{c.pk}").json()["state"] == "queued"
    assert [r["id"] for r in client.get("/api/admin/v1/commands").json()["results"]] == [c.pk]


def test_anonymous_callers_get_401(client, world):
    assert client.get(V1).status_code == 401
    assert post(client, f"{V1}/propose").status_code == 401
    assert post(client, f"{V1}/{uuid.uuid4()}/approve").status_code == 401


def test_a_foreign_command_looks_exactly_like_a_missing_one(as_user, world, noc_x, noc_y):
    theirs = propose(as_user(noc_y), world.miners_b_y[:1], site_id="SITE-Y").json()["command_id"]
    client = as_user(noc_x)
    for suffix in ("", "/approve", "/deny", "/rollback"):
        call = client.get if not suffix else (lambda p: post(client, p, {"reason": "x"}))
        foreign, missing = call(f"{V1}/{theirs}{suffix}"), call(f"{V1}/{uuid.uuid4()}{suffix}")
        assert (foreign.status_code, foreign.json()) == (403, missing.json())
    assert set(Command.objects.values_list("state", flat=True)) == {S.PROPOSED}


# --- the original's status of a group ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "status"),
    [
        ((S.PROPOSED, S.QUEUED), "PENDING_APPROVAL"),
        ((S.QUEUED, S.RUNNING), "QUEUED"),
        ((S.DISPATCHED, S.SUCCEEDED), "RUNNING"),
        ((S.SUCCEEDED, S.ROLLED_BACK), "SUCCEEDED"),
        ((S.SUCCEEDED, S.FAILED), "PARTIAL"),
        ((S.FAILED, S.CANCELED), "FAILED"),
        ((S.EXPIRED, S.REJECTED), "EXPIRED"),
        ((S.SUPERSEDED, S.REJECTED), "CANCELLED"),
    ],
)
def test_the_status_of_an_original_command_from_its_commands(states, status):
    from control.legacy_v1_shapes import status_of

    assert status_of([Command(state=s) for s in states]) == status


def test_the_list_reads_a_mixed_batch_as_one_command(as_user, world, noc_x):
    batch = uuid.uuid4()
    for m, state in zip(world.miners_a_x, (S.SUCCEEDED, S.FAILED, S.SUCCEEDED), strict=True):
        ControlCommandFactory(miner=m, state=state, batch_id=batch)
    body = as_user(noc_x).get(V1).json()
    assert body["total"] == 1
    (command,) = body["commands"]
    assert (command["id"], command["status"], len(command["target_ids"])) == (str(batch), "PARTIAL", 3)
    r = post(as_user(noc_x), f"{V1}/{batch}/rollback")  # the original's default reason; succeeded ones only
    assert r.status_code == 201 and Command.objects.filter(batch_id=r.json()["rollback_command_id"]).count() == 2
