"""Contract test: GET /api/collector/alerts as the original's collector management page called
it (limit, integer site_id) answers the original's keys; another site's id is 403."""

import pytest

from audit.services import Actor
from hosting.services.alerts import COLLECTOR_DARK, alert_raise
from tenants.models import SiteAlias
from tenants.site_identity import site_alias_add

pytestmark = pytest.mark.django_db
ORIGINAL = {
    "id": int,
    "site_id": int,
    "miner_id": (str, type(None)),
    "alert_type": str,
    "level": str,
    "message": str,
    "message_zh": str,
    "triggered_at": str,
    "acknowledged": bool,
}


def test_open_alerts_answer_the_originals_keys(as_user, world, noc_x, customer_a):
    site_alias_add(actor=Actor.system("test"), site=world.site_x, value="17", kind=SiteAlias.Kind.LEGACY_ID)
    alert_raise(site=world.site_x, miner=world.miners_a_x[0], kind="overheat", title="A hot")
    alert_raise(site=world.site_x, kind=COLLECTOR_DARK, title="Collector SITE-X/edge-x dark")
    body = as_user(noc_x).get("/api/collector/alerts", {"site_id": 17, "limit": 5}).json()
    assert body["success"] is True and len(body["alerts"]) == 2
    for alert in body["alerts"]:
        for name, kind in ORIGINAL.items():
            assert isinstance(alert[name], kind), name
        assert alert["site_id"] == 17 and len(alert["triggered_at"]) == len("2026-01-01 00:00")
    assert {a["alert_type"] for a in body["alerts"]} == {"overheat", COLLECTOR_DARK}
    mine = as_user(customer_a).get("/api/collector/alerts").json()["alerts"]
    assert {a["message"] for a in mine} == {"A hot", "Collector SITE-X/edge-x dark"}


def test_another_sites_integer_id_is_forbidden_like_a_missing_one(as_user, world, noc_x):
    client = as_user(noc_x)
    other = client.get("/api/collector/alerts", {"site_id": world.site_y.pk})
    missing = client.get("/api/collector/alerts", {"site_id": 99999999})
    assert other.status_code == missing.status_code == 403
    assert other.json() == missing.json()
