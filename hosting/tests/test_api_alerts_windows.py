"""/api/v1/hosting/alerts, /maintenance_windows and /downtime over HTTP, per persona."""

import datetime as dt

import pytest
from django.utils import timezone

from hosting.models import Alert, DowntimeInterval, MaintenanceWindow
from hosting.services.alerts import COLLECTOR_DARK, alert_raise
from hosting.services.maintenance import maintenance_window_create
from tenants.models import MinerOwnership

pytestmark = pytest.mark.django_db
V1 = "/api/v1/hosting"


def post(client, path, body):
    return client.post(path, body, content_type="application/json")


@pytest.fixture
def alerts(world):
    return {
        "a": alert_raise(site=world.site_x, miner=world.miners_a_x[0], kind="overheat", title="A hot"),
        "b": alert_raise(site=world.site_x, miner=world.miners_b_x[0], kind="overheat", title="B hot"),
        "dark": alert_raise(site=world.site_x, kind=COLLECTOR_DARK, title="Collector SITE-X/edge-x dark"),
        "site": alert_raise(site=world.site_x, kind="power", title="PDU 3 tripped by rack B7"),
        "y": alert_raise(site=world.site_y, miner=world.miners_b_y[0], kind="overheat", title="Y hot"),
    }


def titles(r):
    return {a["title"] for a in r.json()["results"]}


def test_each_persona_lists_the_alerts_in_its_scope(as_user, noc_x, customer_a, customer_b, alerts):
    assert titles(as_user(noc_x).get(f"{V1}/alerts")) == {
        "A hot",
        "B hot",
        "Collector SITE-X/edge-x dark",
        "PDU 3 tripped by rack B7",
    }
    # customers: their miners' alerts and the collector-dark alerts of their sites, no other site alert
    assert titles(as_user(customer_a).get(f"{V1}/alerts")) == {"A hot", "Collector SITE-X/edge-x dark"}
    assert titles(as_user(customer_b).get(f"{V1}/alerts")) == {"B hot", "Y hot", "Collector SITE-X/edge-x dark"}
    r = as_user(noc_x).get(f"{V1}/alerts", {"state": "firing", "kind": "overheat"})
    assert titles(r) == {"A hot", "B hot"}


def test_an_operator_acknowledges_and_resolves_and_raises(as_user, world, noc_x, alerts):
    client = as_user(noc_x)
    pk = alerts["a"].pk
    r = post(client, f"{V1}/alerts/{pk}/acknowledge", {"reason": "looking"})
    assert (r.status_code, r.json()["state"], r.json()["acknowledged_by"]) == (200, "acknowledged", "noc-x")
    r = post(client, f"{V1}/alerts/{pk}/acknowledge", {})
    assert (r.status_code, r.json()["error_code"]) == (409, "INVALID_TRANSITION")
    assert post(client, f"{V1}/alerts/{pk}/resolve", {}).json()["state"] == "resolved"
    body = {"site_id": "SITE-X", "kind": "power", "title": "PDU 3 tripped by rack B7"}
    r = post(client, f"{V1}/alerts", body)
    assert (r.status_code, r.json()["id"]) == (200, alerts["site"].pk)  # the live one
    r = post(client, f"{V1}/alerts", {**body, "kind": "door", "severity": "critical"})
    assert (r.status_code, r.json()["source"], r.json()["severity"]) == (201, "operator", "critical")


def test_a_customer_cannot_move_an_alert_and_another_sites_alert_is_403(as_user, noc_y, customer_a, alerts):
    r = post(as_user(customer_a), f"{V1}/alerts/{alerts['a'].pk}/acknowledge", {})
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")
    assert as_user(customer_a).get(f"{V1}/alerts/{alerts['b'].pk}").status_code == 403
    assert as_user(customer_a).get(f"{V1}/alerts/{alerts['site'].pk}").status_code == 403
    r = post(as_user(noc_y), f"{V1}/alerts/{alerts['a'].pk}/resolve", {})
    assert r.status_code == 403
    assert Alert.objects.get(pk=alerts["a"].pk).state == "firing"


def test_customers_see_no_alert_details_or_people(as_user, world, customer_a, noc_x, alerts):
    alert_raise(site=world.site_x, miner=world.miners_a_x[1], kind="x", title="t", details={"rack": "B7"})
    rows = as_user(customer_a).get(f"{V1}/alerts").json()["results"]
    assert all(r["details"] == {} and r["acknowledged_by"] is None for r in rows)


def test_legacy_incident_routes_keep_their_envelopes(as_user, noc_x, customer_a, alerts):
    r = as_user(noc_x).get("/hosting/api/incidents", {"limit": 2})
    assert r.json()["success"] is True and len(r.json()["incidents"]) == 2
    r = as_user(noc_x).get("/hosting/api/monitoring/incidents", {"severity": "warning"})
    assert r.json()["pagination"]["total"] == 4
    r = as_user(customer_a).get("/api/collector/alerts")
    assert {a["title"] for a in r.json()["alerts"]} == {"A hot", "Collector SITE-X/edge-x dark"}


# --- maintenance windows ---------------------------------------------------------------------------


def window_body(**kw):
    start = timezone.now() + dt.timedelta(hours=1)
    return {
        "site_id": "SITE-X",
        "reason": "PDU swap",
        "starts_at": start.isoformat(),
        "ends_at": (start + dt.timedelta(hours=2)).isoformat(),
        **kw,
    }


def test_an_operator_creates_lists_and_cancels_a_window(as_user, world, noc_x):
    client = as_user(noc_x)
    r = post(client, f"{V1}/maintenance_windows", window_body(zone="X1"))
    assert r.status_code == 201, r.json()
    assert (r.json()["scope"], r.json()["owner"], r.json()["recurring"]) == ("zone X1", "noc-x", False)
    pk = r.json()["id"]
    assert [w["id"] for w in client.get(f"{V1}/maintenance_windows", {"active": "true"}).json()["results"]] == [pk]
    r = post(client, f"{V1}/maintenance_windows/{pk}/cancel", {"reason": "postponed"})
    assert r.status_code == 200 and r.json()["canceled_at"] is not None
    assert client.get(f"{V1}/maintenance_windows", {"active": "true"}).json()["results"] == []
    r = post(client, f"{V1}/maintenance_windows/{pk}/cancel", {"reason": "again"})
    assert (r.status_code, r.json()["error_code"]) == (409, "INVALID_TRANSITION")


def test_a_weekly_window_and_its_expiry(as_user, world, noc_x):
    client = as_user(noc_x)
    body = window_body(ends_at=None, weekdays=[0, 2], start_time="02:00", duration_minutes=60, timezone="Asia/Tokyo")
    body.pop("ends_at")
    r = post(client, f"{V1}/maintenance_windows", body)
    assert r.status_code == 201, r.json()
    assert (r.json()["weekdays"], r.json()["timezone"]) == ([0, 2], "Asia/Tokyo")
    r = post(client, f"{V1}/maintenance_windows/{r.json()['id']}/expire", {"reason": "contract ended"})
    assert r.status_code == 400  # expiring before it starts: cancel instead
    assert r.json()["error_code"] == "INVALID_PARAMETER"


def test_bad_windows_are_400_with_error_codes(as_user, world, noc_x):
    client = as_user(noc_x)
    past = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    r = post(client, f"{V1}/maintenance_windows", window_body(starts_at=past))
    assert (r.status_code, r.json()["error_code"], r.json()["field"]) == (400, "WINDOW_IN_THE_PAST", "starts_at")
    r = post(client, f"{V1}/maintenance_windows", window_body(timezone="Nowhere/Land"))
    assert (r.status_code, r.json()["field"]) == (400, "timezone")
    r = post(client, f"{V1}/maintenance_windows", window_body(starts_at="tomorrow"))
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER")
    r = post(client, f"{V1}/maintenance_windows", window_body(site_id="SITE-Y"))
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")
    assert not MaintenanceWindow.objects.exists()


def test_customers_see_the_windows_covering_their_miners_read_only(as_user, world, noc_x, customer_a, customer_b):
    start = timezone.now() + dt.timedelta(hours=1)
    common = {
        "actor": None,
        "user": noc_x,
        "site": world.site_x,
        "starts_at": start,
        "ends_at": start + dt.timedelta(hours=1),
    }
    site_w = maintenance_window_create(reason="site", **common)
    zone_w = maintenance_window_create(reason="zone X1", zone=world.zone_x1, **common)
    b_w = maintenance_window_create(reason="miner of B", miner=world.miners_b_x[0], **common)
    ids = lambda u: {w["id"] for w in as_user(u).get(f"{V1}/maintenance_windows").json()["results"]}  # noqa: E731
    assert ids(customer_a) == {site_w.pk, zone_w.pk}  # tenant A's miners are all in zone X1
    assert ids(customer_b) == {site_w.pk, b_w.pk}
    assert as_user(customer_a).get(f"{V1}/maintenance_windows/{b_w.pk}").status_code == 403
    r = post(as_user(customer_a), f"{V1}/maintenance_windows", window_body())
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")
    r = post(as_user(customer_a), f"{V1}/maintenance_windows/{site_w.pk}/cancel", {"reason": "no"})
    assert r.status_code == 403
    assert as_user(customer_a).get(f"{V1}/maintenance_windows/{site_w.pk}").json()["owner"] is None


# --- downtime ---------------------------------------------------------------------------------------

T0 = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def intervals(world):
    MinerOwnership.objects.update(valid_from=T0 - dt.timedelta(days=1))
    a, b = world.miners_a_x[0], world.miners_b_x[0]
    for miner, cause, minutes in ((a, "offline", 30), (b, "unmeasured", 20), (a, "maintenance", 10)):
        DowntimeInterval.objects.create(
            miner=miner,
            tenant=miner.tenant,
            site=miner.site,
            cause=cause,
            started_at=T0 + dt.timedelta(minutes=len(cause)),
            ended_at=T0 + dt.timedelta(minutes=len(cause) + minutes),
        )


def period(**kw):
    return {"from": T0.isoformat(), "to": (T0 + dt.timedelta(hours=2)).isoformat(), **kw}


def test_downtime_intervals_and_summary_are_scoped(as_user, world, noc_x, customer_a, intervals):
    rows = as_user(customer_a).get(f"{V1}/downtime", period()).json()["results"]
    assert [(r["cause"], r["tenant"]) for r in rows] == [("offline", "tenant-a"), ("maintenance", "tenant-a")]
    assert len(as_user(noc_x).get(f"{V1}/downtime", period()).json()["results"]) == 3
    s = as_user(customer_a).get(f"{V1}/downtime/summary", period(site_id="SITE-X")).json()
    assert (s["miners"], s["downtime_minutes"]["offline"], s["unmeasured_minutes"]) == (3, 30.0, 0.0)
    assert s["definitions"].startswith("downtime-definitions")
    assert {m["miner_id"] for m in s["per_miner"]} == {m.miner_id for m in world.miners_a_x}


def test_downtime_bad_or_foreign_parameters(as_user, customer_a, intervals):
    client = as_user(customer_a)
    r = client.get(f"{V1}/downtime", {"from": period()["to"], "to": period()["from"]})
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER")
    r = client.get(f"{V1}/downtime/summary", {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"})
    assert r.status_code == 400
    assert client.get(f"{V1}/downtime", {"from": "soon"}).status_code == 400
    assert client.get(f"{V1}/downtime", period(site_id="SITE-Y")).status_code == 403
    assert client.get(f"{V1}/downtime/summary", period(tenant="tenant-b")).status_code == 403
