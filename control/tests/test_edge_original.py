"""Contract tests: the original application's /api/edge/v1 and collector command routes, called
with the headers the field collector sends (COLLECTOR_PROTOCOL §3) and the original's bodies,
answer the keys and status codes their clients read."""

import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from control.models import EdgeSafetyEvent
from control.tests.factories import ControlCommandFactory, collector_headers
from tenants.models import CollectorDevice

pytestmark = pytest.mark.django_db
POLL = "/api/edge/v1/commands/poll"


def post(client, path, body, headers):
    return client.post(path, body, content_type="application/json", **headers)


# --- register -------------------------------------------------------------------------------------


def test_register_records_the_edge_and_answers_the_originals_keys(client, world):
    body = {"edge_id": "edge-hall-b", "site_id": "SITE-X", "zone_id": "X1", "version": "1.4.2"}
    r = post(client, "/api/edge/v1/register", body, collector_headers(world.token_x, "SITE-X"))
    assert r.status_code == 200, r.json()
    answer = r.json()
    assert answer["registered"] is True and answer["server_time"].endswith("Z")
    assert answer["polling_hints"] == {"interval_seconds": 30, "long_poll_timeout": 60}
    assert CollectorDevice.objects.filter(device_id="edge-hall-b", token__collector=world.collector_x).exists()
    event = AuditEvent.objects.get(action="control.edge.registered")
    assert (event.site_code, event.payload["version"], event.payload["zone_id"]) == ("SITE-X", "1.4.2", "X1")


@pytest.mark.parametrize("missing", ["edge_id", "site_id"])
def test_register_without_edge_or_site_id_is_400(client, world, missing):
    body = {"edge_id": "e", "site_id": "SITE-X"}
    del body[missing]
    r = post(client, "/api/edge/v1/register", body, collector_headers(world.token_x, "SITE-X"))
    assert r.status_code == 400 and r.json()["field"] == missing


def test_register_naming_another_site_is_403_and_no_token_401(client, world):
    body = {"edge_id": "e", "site_id": "SITE-Y"}
    r = post(client, "/api/edge/v1/register", body, collector_headers(world.token_x, "SITE-X"))
    assert r.status_code == 403 and r.json()["error_code"] == "SITE_MISMATCH"
    assert post(client, "/api/edge/v1/register", body, {}).status_code == 401
    assert not AuditEvent.objects.filter(action="control.edge.registered").exists()


# --- safety events --------------------------------------------------------------------------------


def safety(miner_id, **extra):
    return {
        "miner_id": miner_id,
        "action": "disable",
        "reason": "temperature_max 86.0 >= 85",
        "temp_max": 86.0,
        "ts": "2026-12-07T01:30:00Z",
        "snapshot_json": {"temperature_max": 86.0},
        **extra,
    }


def test_safety_batch_stores_each_action_and_audits_it(client, world):
    miner = world.miners_a_x[0]
    r = post(
        client,
        "/api/edge/v1/events/safety/batch",
        {"events": [safety(miner.miner_id), safety("NOT-IN-INVENTORY", action="reboot")]},
        collector_headers(world.token_x, "SITE-X", device_id="edge-1"),
    )
    assert r.status_code == 200, r.json()
    answer = r.json()
    assert (answer["processed"], answer["failed"], answer["device_id"]) == (2, 0, "edge-1")
    assert isinstance(answer["site_id"], int) and answer["received_at"].endswith("Z")
    assert "errors" not in answer
    stored = {e.miner_ref: e for e in EdgeSafetyEvent.objects.all()}
    assert stored[miner.miner_id].miner == miner and stored["NOT-IN-INVENTORY"].miner is None
    assert stored[miner.miner_id].snapshot == {"temperature_max": 86.0}
    assert AuditEvent.objects.filter(action="control.safety_event.recorded", site_code="SITE-X").count() == 2


def test_safety_batch_refuses_incomplete_events_one_by_one_with_207(client, world):
    events = [safety("M1"), safety("M2", reason=""), safety("M3", ts="yesterday")]
    r = post(client, "/api/edge/v1/events/safety/batch", {"events": events}, collector_headers(world.token_x, "SITE-X"))
    assert r.status_code == 207
    assert (r.json()["processed"], r.json()["failed"]) == (1, 2)
    assert [e["miner_id"] for e in r.json()["errors"]] == ["M2", "M3"]
    assert EdgeSafetyEvent.objects.count() == 1


def test_an_item_that_is_no_event_is_a_counted_failure_and_the_schema_allows_it(client, world, tmp_path):
    # `make fuzz` (50 examples): the schema said "events: objects", the server answered 207 to arrays in
    # it; a bad item must not refuse the batch (the edge spools it), so the schema takes any item
    events = [safety("M1"), ["not", "an", "event"], "M2", None]
    r = post(client, "/api/edge/v1/events/safety/batch", {"events": events}, collector_headers(world.token_x, "SITE-X"))
    assert r.status_code == 207 and (r.json()["processed"], r.json()["failed"]) == (1, 3), r.content
    assert EdgeSafetyEvent.objects.count() == 1
    out = tmp_path / "schema.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(out))
    body = json.loads(out.read_text())["components"]["schemas"]["SafetyEventsInRequest"]
    assert body["properties"]["events"]["items"] == {}


def test_safety_batch_without_events_is_400_and_another_sites_token_403(client, world):
    h = collector_headers(world.token_x, "SITE-X")
    assert post(client, "/api/edge/v1/events/safety/batch", {"events": []}, h).status_code == 400
    other = post(
        client,
        "/api/edge/v1/events/safety/batch",
        {"events": [safety("M1")]},
        collector_headers(world.token_y, "SITE-X"),
    )
    assert other.status_code == 403 and not EdgeSafetyEvent.objects.exists()


def test_the_noc_of_the_site_sees_the_safety_events_in_the_console_and_no_one_else(as_user, world, noc_x, noc_y):
    now = timezone.now()
    event = EdgeSafetyEvent.objects.create(
        site=world.site_x, collector=world.collector_x, action="disable", reason="hot", ts=now, received_at=now
    )
    url = f"/admin/control/edgesafetyevent/{event.pk}/change/"
    assert as_user(noc_x).get(url).status_code == 200
    assert as_user(noc_y).get(url).status_code == 403


# --- health, poll, ACK ----------------------------------------------------------------------------


def test_collector_health_answers_the_legacy_adapters_keys(client, db):
    body = client.get("/api/collector/health").json()
    assert body["status"] == "ok" and body["_deprecated"] is True
    assert body["timestamp"].endswith("Z") and isinstance(body["_deprecation_notice"], str)


def test_v1_poll_answers_the_originals_counters_beside_the_commands(client, world, settings):
    ControlCommandFactory(miner=world.miners_a_x[0])
    body = client.get(POLL, **collector_headers(world.token_x, "SITE-X")).json()
    assert len(body["commands"]) == 1
    assert (body["dispatched_count"], body["miner_command_count"], body["remote_command_count"]) == (1, 1, 0)
    assert (body["rate_limited_count"], body["lease_duration_sec"]) == (0, settings.COMMAND_LEASE_SEC)
    assert body["server_time"].endswith("Z")


def test_legacy_poll_answers_count(client, world):
    ControlCommandFactory(miner=world.miners_a_x[0])
    body = client.get("/api/collector/commands/pending", **collector_headers(world.token_x, "SITE-X")).json()
    assert (body["success"], body["count"], len(body["commands"])) == (True, 1, 1)


def test_acks_answer_the_originals_keys(client, world):
    ControlCommandFactory(miner=world.miners_a_x[0])
    ControlCommandFactory(miner=world.miners_a_x[1])
    h = collector_headers(world.token_x, "SITE-X")
    first, second = client.get(POLL, **h).json()["commands"]
    ack = {"status": "completed", "result_code": 0, "result_message": "ok", "site_id": "SITE-X", "duration_ms": 5}
    v1 = post(client, f"/api/edge/v1/commands/{first['command_id']}/ack", ack, h).json()
    assert (v1["success"], v1["acknowledged"], v1["command_source"], v1["replayed"]) == (True, True, "miner", False)
    assert v1["command_id"] == first["command_id"] and v1["command_status"] in ("executing", "completed")
    again = post(client, f"/api/edge/v1/commands/{first['command_id']}/ack", ack, h).json()
    assert again["replayed"] is True
    legacy = post(client, f"/api/collector/commands/{second['command_id']}/result", ack, h).json()
    assert (legacy["success"], legacy["message"]) == (True, "Result reported successfully")
    unknown = post(client, "/api/edge/v1/commands/999999/ack", ack, h)
    assert unknown.status_code == 200 and unknown.json()["command_status"] is None
