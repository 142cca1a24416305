"""/api/admin/v1/rules: CRUD in the caller's site scope, every edit a version, bad input 400
INVALID_RULE naming the field, another site's rule 403, customers 403."""

import pytest

from audit.models import AuditEvent
from conftest import grant
from rules.models import Rule
from tenants.models import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
BASE = {
    "site_id": "SITE-X",
    "name": "overheat",
    "metric": "temp_max",
    "op": "gt",
    "threshold": 85,
    "clear_threshold": 75,
    "consecutive_samples": 3,
    "command_type": "set_fan",
    "params": {"speed": 100},
}


@pytest.fixture
def noc(as_user, noc_x):
    return as_user(noc_x)


def test_create_read_and_edit_a_rule_as_versions(noc, world):
    r = noc.post(
        "/api/admin/v1/rules",
        BASE | {"zone": "X1", "excluded_miners": [world.miners_a_x[0].miner_id]},
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["version"], body["zone"], body["excluded_miners"]) == (1, "X1", [world.miners_a_x[0].pk])
    rule_id = body["id"]
    r = noc.patch(f"/api/admin/v1/rules/{rule_id}", {"threshold": 90}, content_type="application/json")
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["threshold"] == 90
    rule = Rule.objects.get(pk=rule_id)
    assert [v.definition["threshold"] for v in rule.versions.order_by("version")] == [85, 90]
    actions = list(
        AuditEvent.objects.filter(entity_type="rules.rule", entity_id=str(rule_id)).values_list("action", flat=True)
    )
    assert sorted(actions) == ["rules.rule.created", "rules.rule.updated"]
    listed = noc.get("/api/admin/v1/rules").json()["results"]
    assert [x["id"] for x in listed] == [rule_id]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"metric": "humidity"}, "metric"),
        ({"op": "between"}, "op"),
        ({"clear_threshold": 90}, "clear_threshold"),  # clear above the trigger of a rising rule
        ({"consecutive_samples": 0}, "consecutive_samples"),
        ({"cooldown_sec": -1}, "cooldown_sec"),
        ({"command_type": "explode"}, "command_type"),
        ({"params": {"speed": 400}}, "params.speed"),
        ({"name": ""}, "name"),
        ({"threshold": "hot"}, "threshold"),
    ],
)
def test_bad_rules_are_400_naming_the_field(noc, change, field):
    r = noc.post("/api/admin/v1/rules", BASE | change, content_type="application/json")
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["error_code"] == "INVALID_RULE"
    assert body["field"] == field
    assert Rule.objects.count() == 0


def test_an_empty_scope_is_refused(noc, world):
    only = world.miners_a_x[0].miner_id
    r = noc.post(
        "/api/admin/v1/rules", BASE | {"miners": [only], "excluded_miners": [only]}, content_type="application/json"
    )
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_RULE" and "empty" in str(r.json())


def test_another_sites_rules_and_miners_are_403(world, as_user):
    y_ops = grant(UserFactory(username="noc-y"), Role.NOC, site=world.site_y)
    other = as_user(y_ops)
    r = other.post("/api/admin/v1/rules", BASE | {"site_id": "SITE-Y"}, content_type="application/json")
    assert r.status_code == 201
    y_rule = r.json()["id"]
    x = as_user(grant(UserFactory(username="noc-x3"), Role.NOC, site=world.site_x))
    assert x.get(f"/api/admin/v1/rules/{y_rule}").status_code == 403
    assert (
        x.patch(f"/api/admin/v1/rules/{y_rule}", {"threshold": 1}, content_type="application/json").status_code == 403
    )
    assert x.get(f"/api/admin/v1/rules/{y_rule}/hits").status_code == 403
    assert (
        x.post("/api/admin/v1/rules", BASE | {"site_id": "SITE-Y"}, content_type="application/json").status_code == 403
    )
    miner_y = world.miners_b_y[0].miner_id
    r = x.post("/api/admin/v1/rules", BASE | {"miners": [miner_y]}, content_type="application/json")
    assert r.status_code == 403
    assert x.get("/api/admin/v1/rules").json()["results"] == []


def test_customers_get_403(as_user, customer_a):
    c = as_user(customer_a)
    assert c.get("/api/admin/v1/rules").status_code == 403
    assert c.post("/api/admin/v1/rules", BASE, content_type="application/json").status_code == 403
