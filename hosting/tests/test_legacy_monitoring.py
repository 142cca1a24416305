"""Contract tests of the original event-monitoring page's routes (/hosting/api/monitoring/overview,
POST /monitoring/incidents, GET/PUT /monitoring/incidents/<id>): requests as event_monitoring.html sent
them, the keys and status codes it read, over this product's alerts (audited), and cross-site isolation."""

import pytest

from audit.models import AuditEvent
from audit.services import Actor
from hosting.models import Alert, AlertState
from hosting.services.alerts import alert_acknowledge, alert_raise
from telemetry.tests.live_rows import receipt

pytestmark = pytest.mark.django_db
H = "/hosting/api/monitoring"
SYSTEM = Actor.system("test")


def _json(client, method, path, body=None):
    return getattr(client, method)(path, body or {}, content_type="application/json")


def test_create_an_incident_raises_an_operator_alert(as_user, world, noc_x):
    client = as_user(noc_x)
    body = {"title": "PDU 3 tripped", "description": "row C dark", "severity": "high", "category": "power"}
    r = _json(client, "post", f"{H}/incidents", {**body, "site_id": world.site_x.pk})
    assert r.status_code == 201, r.json()
    assert set(r.json()) == {"success", "message", "incident_id"} and r.json()["success"] is True
    alert = Alert.objects.get(pk=r.json()["incident_id"])
    assert (alert.site_id, alert.source, alert.severity, alert.state) == (
        world.site_x.pk,
        "operator",
        "critical",
        "firing",
    )
    assert alert.details == {"description": "row C dark", "category": "power"}
    assert AuditEvent.objects.filter(action="hosting.alert.raised").exists()
    # the same open incident again: its id, not a second alert
    r = _json(client, "post", f"{H}/incidents", {**body, "site_id": "SITE-X"})
    assert (r.status_code, r.json()["incident_id"]) == (200, alert.pk)
    r = _json(client, "post", f"{H}/incidents", {"title": "no site", "description": "", "severity": "low"})
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER")


def test_detail_and_update_move_the_alert_in_the_original_words(as_user, world, noc_x):
    alert = alert_raise(actor=SYSTEM, site=world.site_x, kind="overheat", title="hot", miner=world.miners_a_x[0])
    client = as_user(noc_x)
    incident = client.get(f"{H}/incidents/{alert.pk}").json()["incident"]
    assert (incident["id"], incident["title"], incident["status"], incident["severity"]) == (
        alert.pk,
        "hot",
        "open",
        "warning",
    )
    assert (incident["site_name"], incident["miner_id"], incident["duration"]) == (
        world.site_x.name,
        world.miners_a_x[0].miner_id,
        None,
    )
    r = _json(client, "put", f"{H}/incidents/{alert.pk}", {"status": "investigating"})
    assert r.status_code == 200 and r.json() == {
        "success": True,
        "message": "incident investigating",
        "incident_id": alert.pk,
    }
    assert client.get(f"{H}/incidents/{alert.pk}").json()["incident"]["status"] == "investigating"
    r = _json(client, "put", f"{H}/incidents/{alert.pk}", {"status": "resolved", "resolution": "fans replaced"})
    assert r.status_code == 200
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED
    assert client.get(f"{H}/incidents/{alert.pk}").json()["incident"]["duration"] == "0m"
    r = _json(client, "put", f"{H}/incidents/{alert.pk}", {"status": "resolved"})
    assert (r.status_code, r.json()["error_code"]) == (409, "INVALID_TRANSITION")
    r = _json(client, "put", f"{H}/incidents/{alert.pk}", {"status": "open"})
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER")


def test_overview_counts_the_callers_alerts_and_sites(as_user, world, noc_x, ops_manager_x):
    receipt(world.collector_x)
    firing = alert_raise(
        actor=SYSTEM,
        site=world.site_x,
        kind="custom",
        title="a" * 150,
        details={"description": "d" * 150},
        dedupe_key="a",
    )
    acked = alert_raise(actor=SYSTEM, site=world.site_x, kind="custom", title="b", dedupe_key="b")
    alert_acknowledge(actor=SYSTEM, user=ops_manager_x, alert=acked)
    alert_raise(actor=SYSTEM, site=world.site_y, kind="custom", title="elsewhere")
    body = as_user(noc_x).get(f"{H}/overview").json()
    assert body["success"] is True and set(body) == {"success", "stats", "metrics", "alerts"}
    assert body["stats"]["active_alerts"] == 2 and body["stats"]["total_incidents"] == 2
    assert body["stats"]["uptime_percentage"] == 100.0 and isinstance(body["stats"]["avg_response_time"], int)
    assert set(body["metrics"].values()) == {None}
    assert [a["id"] for a in body["alerts"]] == [acked.pk, firing.pk]
    assert body["alerts"][1]["description"] == "d" * 100 + "..." and len(body["alerts"][1]["created_at"]) == 5


def test_another_sites_incident_answers_like_a_missing_one(as_user, world, noc_x, customer_a):
    foreign = alert_raise(actor=SYSTEM, site=world.site_y, kind="custom", title="y")
    client = as_user(noc_x)
    for pk in (foreign.pk, 999_999):
        assert client.get(f"{H}/incidents/{pk}").status_code == 403
        r = _json(client, "put", f"{H}/incidents/{pk}", {"status": "resolved"})
        assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")
    r = _json(client, "post", f"{H}/incidents", {"title": "t", "severity": "low", "site_id": world.site_y.pk})
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")
    foreign.refresh_from_db()
    assert foreign.state == AlertState.FIRING and Alert.objects.count() == 1, list(
        Alert.objects.values("kind", "title", "site__code")
    )
    customer = as_user(customer_a)
    assert customer.get(f"{H}/overview").status_code == 403
    assert _json(customer, "post", f"{H}/incidents", {"title": "t", "site_id": "SITE-X"}).status_code == 403
