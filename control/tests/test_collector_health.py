"""A collector's status — what an operator checks first when a site looks dark (SPEC §4.1, §5):
last upload and last poll, devices and versions seen, receipts and rejected records (by
error_code) of the last hour, unknown ACKs. In GET /api/collector/status (`health`, beside the
original's keys) for the collector and for operators, and on the admin's Collector status page."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from control.admin_collector_status import unknown_acks_url
from control.models import CommandAck
from control.selectors_collector_status import collector_status_get
from control.tests.factories import collector_headers
from telemetry.models import IngestBatch
from telemetry.tests.ingest_fixtures import gz, record
from telemetry.tests.live_rows import receipt
from tests.factories import CollectorFactory

pytestmark = pytest.mark.django_db
URL = "/api/collector/status"
UA = "python-requests/2.34.2"
STATUS_LIST = reverse("admin:control_collectorstatus_changelist")


def _headers(world, device="box-1", **extra):
    return {**collector_headers(world.token_x, "SITE-X", device), "HTTP_USER_AGENT": UA, **extra}


def _upload(client, world, records):
    response = client.post(
        "/api/collector/upload",
        data=gz(records),
        content_type="application/octet-stream",
        **_headers(world, HTTP_CONTENT_ENCODING="gzip", HTTP_X_UPLOAD_MODE="raw", HTTP_X_ZONE_ID=""),
    )
    assert response.status_code == 200 and response.json()["success"] is True, response.content
    return response.json()


def _ack_unknown(client, world, wire_id):
    body = {"status": "completed", "result_code": 0, "result_message": "done", "site_id": "SITE-X"}
    response = client.post(
        f"/api/edge/v1/commands/{wire_id}/ack", data=body, content_type="application/json", **_headers(world)
    )
    assert response.status_code == 200  # kept, answered 200 so the collector stops re-sending it


@pytest.fixture
def dark_ish(client, world):
    """Collector X: one upload of 4 records (1 stored, 2 from the future, 1 with an unparseable
    timestamp), a poll with nothing to hand out, an edge register with its version, two ACKs for
    ids its site was never handed. Collector Y of site Y: an unknown ACK and a rejected record too."""
    now = timezone.now()
    a0, a1, a2 = world.miners_a_x
    ahead = now + dt.timedelta(hours=1)
    records = [record(a0.miner_id, now), record(a1.miner_id, ahead), record(a2.miner_id, ahead)]
    records.append(record(a0.miner_id, "not-a-time"))
    _upload(client, world, records)
    assert client.get("/api/edge/v1/commands/poll", **_headers(world)).status_code == 204
    register = {"edge_id": "box-1", "site_id": "SITE-X", "version": "0.3.8.7"}
    response = client.post("/api/edge/v1/register", data=register, content_type="application/json", **_headers(world))
    assert response.status_code == 200
    _ack_unknown(client, world, "777001")
    _ack_unknown(client, world, "777002")
    CommandAck.objects.create(
        wire_id="888001",
        collector=world.collector_y,
        endpoint="v1",
        received_at=now,
        payload={"status": "completed"},
        disposition=CommandAck.Disposition.UNKNOWN,
    )
    receipt(world.collector_y, age_sec=5, rejected=1, rejected_codes={"TOO_OLD": 1})
    return world


def _self_check(client, world) -> dict:
    response = client.get(URL, **_headers(world))
    assert response.status_code == 200
    return response.json()


def test_the_collector_reads_its_status_beside_the_originals_keys(client, dark_ish):
    body = _self_check(client, dark_ish)
    assert {"success", "site_id", "zone_id", "collector", "token_prefix", "device_id", "server_time", "data"} <= set(
        body
    )
    assert set(body["data"]) == {"site_id", "total_miners", "online_miners", "last_upload", "collector_name"}
    health = body["health"]
    assert health["last_upload"] is not None and health["last_poll"] is not None and health["online"] is True
    assert health["uploads_last_hour"] == {
        "uploads": 1,
        "records": 4,
        "accepted": 1,
        "rejected": 3,
        "duplicates": 0,
        "channels": {"legacy/list": 1},
    }
    assert health["rejected_reasons_last_hour"] == {"FUTURE_TIMESTAMP": 2, "INVALID_TIMESTAMP": 1}
    (device,) = health["devices"]
    assert (device["device_id"], device["user_agent"], device["version"]) == ("box-1", UA, "0.3.8.7")
    assert [(v["user_agent"], v["version"], v["devices"]) for v in health["versions"]] == [(UA, "0.3.8.7", 1)]
    assert health["unknown_acks"]["last_hour"] == 2 and health["unknown_acks"]["last_wire_id"] == "777002"
    assert health["quarantined"] == 0


def test_every_rejected_record_is_counted_by_code_not_only_the_first_twenty(client, world):
    ahead = timezone.now() + dt.timedelta(hours=1)
    _upload(client, world, [record(world.miners_a_x[0].miner_id, ahead) for _ in range(25)])
    batch = IngestBatch.objects.get(collector=world.collector_x)
    assert len(batch.first_reasons) == 20 and batch.rejected_codes == {"FUTURE_TIMESTAMP": 25}
    assert collector_status_get(world.collector_x)["rejected_reasons_last_hour"] == {"FUTURE_TIMESTAMP": 25}


def test_receipts_and_unknown_acks_older_than_an_hour_leave_the_hour_but_stay_the_last(client, world):
    receipt(world.collector_x, age_sec=2 * 3600, rejected=2, rejected_codes={"FUTURE_TIMESTAMP": 2})
    old = timezone.now() - dt.timedelta(hours=2)
    CommandAck.objects.create(
        wire_id="1", collector=world.collector_x, endpoint="v1", received_at=old, payload={}, disposition="unknown"
    )
    status = collector_status_get(world.collector_x)
    assert status["uploads_last_hour"]["uploads"] == 0 and status["rejected_reasons_last_hour"] == {}
    assert status["last_upload"] is not None and status["online"] is False
    assert status["unknown_acks"] == {"last_hour": 0, "last_at": old, "last_wire_id": "1"}


def test_a_poll_is_kept_once_per_resolution_not_written_by_every_poll(client, world, settings):
    settings.COLLECTOR_TOKEN_LAST_USED_RESOLUTION_SEC = 3600
    assert client.get("/api/edge/v1/commands/poll", **_headers(world)).status_code == 204
    world.collector_x.refresh_from_db()
    first = world.collector_x.last_poll_at
    assert first is not None
    with CaptureQueriesContext(connection) as polls:
        assert client.get("/api/collector/commands/pending", **_headers(world)).status_code == 200  # legacy poll
    world.collector_x.refresh_from_db()
    assert world.collector_x.last_poll_at == first
    assert not [q for q in polls.captured_queries if "last_poll_at" in q["sql"] and q["sql"].startswith("UPDATE")]


def test_an_operator_reads_each_collectors_health_and_never_another_sites(client, dark_ish, noc_x, owner):
    client.force_login(noc_x)
    (site,) = client.get(URL).json()["sites"]
    (collector,) = site["collectors"]
    assert collector["name"] == "edge-x" and collector["health"]["unknown_acks"]["last_hour"] == 2
    assert collector["health"]["rejected_reasons_last_hour"] == {"FUTURE_TIMESTAMP": 2, "INVALID_TIMESTAMP": 1}
    client.force_login(owner)
    by_site = {s["site_id"]: s["collectors"] for s in client.get(URL).json()["sites"]}
    (y,) = by_site["SITE-Y"]
    assert y["health"]["unknown_acks"]["last_wire_id"] == "888001"
    assert y["health"]["rejected_reasons_last_hour"] == {"TOO_OLD": 1}


def test_the_admin_status_list_shows_my_collectors_in_the_same_queries_however_many(
    client, dark_ish, noc_x, django_assert_num_queries
):
    client.force_login(noc_x)
    with CaptureQueriesContext(connection) as small:
        page = client.get(STATUS_LIST)
    assert page.status_code == 200
    text = page.content.decode()
    assert "edge-x" in text and "edge-y" not in text
    assert unknown_acks_url(dark_ish.collector_x.pk).replace("&", "&amp;") in text
    for i in range(5):
        CollectorFactory(site=dark_ish.site_x, name=f"edge-x{i}")
    with CaptureQueriesContext(connection) as big:
        client.get(STATUS_LIST)
    assert len(big.captured_queries) == len(small.captured_queries)


def test_the_admin_status_page_lists_devices_versions_reasons_and_links_the_unknown_acks(client, dark_ish, noc_x):
    client.force_login(noc_x)
    page = client.get(reverse("admin:control_collectorstatus_change", args=[dark_ish.collector_x.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    for expected in ("box-1", UA, "0.3.8.7", "FUTURE_TIMESTAMP", "INVALID_TIMESTAMP", "777002"):
        assert expected in text
    acks = client.get(unknown_acks_url(dark_ish.collector_x.pk)).content.decode()
    assert "777001" in acks and "777002" in acks and "done" in acks  # each with its body
    assert "888001" not in acks
    other = client.get(reverse("admin:control_collectorstatus_change", args=[dark_ish.collector_y.pk]))
    assert other.status_code == 403


def test_an_unknown_ack_moves_command_acks_total_unknown_once_in_metrics(
    client, world, django_capture_on_commit_callbacks
):
    def scraped() -> float:
        text = client.get("/metrics").content.decode()
        line = next((x for x in text.splitlines() if x.startswith('command_acks_total{disposition="unknown"}')), "")
        return float(line.split()[-1]) if line else 0.0

    before = scraped()
    with django_capture_on_commit_callbacks(execute=True):
        _ack_unknown(client, world, "555001")
    assert scraped() == before + 1
    assert collector_status_get(world.collector_x)["unknown_acks"]["last_hour"] == 1
