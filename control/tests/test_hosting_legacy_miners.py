"""Contract tests of the original operator pages' miner control routes (/hosting/api/miners/<id>/
start|shutdown|restart|command, batch-start|batch-shutdown|batch-command): requests as
miner_management.html sent them, the keys, types and status codes it read, and cross-site
isolation (another site's miner answers the missing miner's 403 and nothing is created)."""

import pytest

from audit.models import AuditEvent
from control.models import Command, CommandState
from control.tests.test_legacy_v1_commands import post

pytestmark = pytest.mark.usefixtures("no_blast_radius_cap")
S = CommandState
SINGLE = {"success", "message", "command_queued", "collector_available", "miner"}
BATCH = {"success", "message", "updated_count", "commands_queued", "skipped_no_collector"}


@pytest.mark.parametrize(
    ("action", "command_type"), [("start", "enable_hashing"), ("shutdown", "disable_hashing"), ("restart", "reboot")]
)
def test_single_action_queues_the_command_in_the_original_shape(as_user, world, noc_x, action, command_type):
    miner = world.miners_a_x[0]
    r = post(as_user(noc_x), f"/hosting/api/miners/{miner.pk}/{action}", {"force_status": False})
    assert r.status_code == 200, r.json()
    body = r.json()
    assert SINGLE <= set(body) and body["success"] is True and isinstance(body["message"], str)
    assert body["collector_available"] is True and isinstance(body["command_queued"], bool)
    assert (body["miner"]["id"], body["miner"]["serial_number"]) == (miner.pk, miner.miner_id)
    command = Command.objects.get()
    assert (command.miner_id, command.command_type) == (miner.pk, command_type)
    assert body["command_queued"] is (command.state == S.QUEUED)
    assert AuditEvent.objects.filter(action="control.command.created").exists()


def test_another_sites_miner_answers_like_a_missing_one_and_creates_nothing(as_user, world, noc_x, customer_a):
    foreign = world.miners_b_y[0]
    client = as_user(noc_x)
    for path in (f"{foreign.pk}/start", f"{foreign.pk}/restart", "999999/shutdown"):
        r = post(client, f"/hosting/api/miners/{path}")
        assert (r.status_code, r.json()["error_code"], r.json()["success"]) == (403, "FORBIDDEN", False)
    r = post(client, f"/hosting/api/miners/{foreign.pk}/command", {"command_type": "restart", "confirmed": True})
    assert r.status_code == 403
    r = post(client, "/hosting/api/miners/batch-start", {"miner_ids": [world.miners_a_x[0].pk, foreign.pk]})
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")
    r = post(as_user(customer_a), f"/hosting/api/miners/{world.miners_a_x[0].pk}/start")
    assert r.status_code == 403
    assert not Command.objects.exists()


def test_command_takes_the_original_names_and_asks_to_confirm_dangerous_ones(as_user, world, noc_x):
    miner = world.miners_a_x[0]
    client = as_user(noc_x)
    r = post(client, f"/hosting/api/miners/{miner.pk}/command", {"command_type": "restart"})
    assert r.status_code == 400
    body = r.json()
    assert (body["success"], body["requires_confirmation"], body["command_type"]) == (False, True, "restart")
    assert not Command.objects.exists()
    r = post(client, f"/hosting/api/miners/{miner.pk}/command", {"command_type": "restart", "confirmed": True})
    assert r.status_code == 200 and r.json()["commands_queued"] in (0, 1)
    assert (r.json()["miner_id"], r.json()["serial_number"]) == (miner.pk, miner.miner_id)
    assert Command.objects.get().command_type == "reboot"
    r = post(client, f"/hosting/api/miners/{miner.pk}/command", {"command_type": "self_destruct", "confirmed": True})
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMS")


def test_batch_start_and_shutdown_one_command_per_miner(as_user, world, noc_x):
    client = as_user(noc_x)
    ids = [m.pk for m in world.miners_a_x[:2]]
    r = post(client, "/hosting/api/miners/batch-start", {"miner_ids": ids, "force_status": False})
    assert r.status_code == 200, r.json()
    body = r.json()
    assert BATCH <= set(body) and body["success"] is True
    assert (body["updated_count"], body["skipped_no_collector"]) == (2, [])
    assert isinstance(body["commands_queued"], int)
    assert sorted(Command.objects.values_list("miner_id", flat=True)) == sorted(ids)
    r = post(client, "/hosting/api/miners/batch-shutdown", {"miner_ids": ids})
    assert r.status_code == 200 and r.json()["updated_count"] == 2
    assert Command.objects.filter(command_type="disable_hashing").count() == 2
    r = post(client, "/hosting/api/miners/batch-start", {"miner_ids": []})
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMS")


def test_batch_command_confirms_then_queues_with_results(as_user, world, noc_x):
    client = as_user(noc_x)
    ids = [m.pk for m in world.miners_a_x]
    r = post(client, "/hosting/api/miners/batch-command", {"miner_ids": ids, "command_type": "disable"})
    assert (r.status_code, r.json()["requires_confirmation"]) == (400, True)
    body = {"miner_ids": ids, "command_type": "disable", "confirmed": True, "parameters": {}}
    r = post(client, "/hosting/api/miners/batch-command", body)
    assert r.status_code == 200, r.json()
    out = r.json()
    assert {"success", "message", "commands_queued", "skipped_no_collector", "results"} <= set(out)
    assert len(out["results"]) == 3 and {c["command_type"] for c in out["results"]} == {"disable_hashing"}


def test_batch_respects_approvals_like_the_command_api(as_user, world, noc_x):
    """A multi-miner reboot needs approval here exactly as on /api/admin/v1/commands: proposed, not queued."""
    ids = [m.pk for m in world.miners_a_x[:2]]
    body = {"miner_ids": ids, "command_type": "restart", "confirmed": True}
    r = post(as_user(noc_x), "/hosting/api/miners/batch-command", body)
    assert r.status_code == 200, r.json()
    assert (r.json()["approval_required"], r.json()["commands_queued"]) == (True, 0)
    assert set(Command.objects.values_list("state", flat=True)) == {S.PROPOSED}
