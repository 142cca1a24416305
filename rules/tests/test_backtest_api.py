"""/api/admin/v1/rules/backtest and /api/admin/v1/rules/<id>/backtest: operators of the rule's site,
names in like rule create, 400 with error_code and field, another site's rule 403 like a missing
one, customers 403, and nothing written (not even an audit event: a backtest is a read)."""

import datetime as dt

import pytest

from audit.models import AuditEvent
from audit.services import Actor
from rules.models import RuleHit, RuleState
from rules.services.definitions import rule_create
from rules.tests.test_backtest import DAY, RULE, minute

pytestmark = pytest.mark.django_db
OPS = Actor.system("test.ops")
PERIOD = {"start": DAY.isoformat(), "end": minute(60).isoformat()}
DRAFT = {k: v for k, v in RULE.items() if k != "name"} | {"site_id": "SITE-X"}


def test_a_noc_backtests_a_draft_by_names(as_user, noc_x, world, hot_hour):
    events = AuditEvent.objects.count()
    body = DRAFT | PERIOD | {"zone": "X1", "excluded_miners": [world.miners_a_x[2].miner_id]}
    r = as_user(noc_x).post("/api/admin/v1/rules/backtest", body, content_type="application/json")
    assert r.status_code == 200, r.content
    out = r.json()
    assert (out["rule_id"], out["version"], out["site_id"]) == (None, None, "SITE-X")
    assert out["definition"]["zone"] == world.zone_x1.pk
    assert out["definition"]["excluded_miners"] == [world.miners_a_x[2].pk]
    assert out["totals"] == {"miners_hit": 1, "hits": {"trigger": 2, "recovery": 0, "suppressed": 0, "capped": 0}}
    [miner] = out["miners"]
    assert miner["miner_id"] == hot_hour.miner_id
    assert [h["at"] for h in miner["hits"]] == ["2026-11-23T00:02:00Z", "2026-11-23T00:12:00Z"]
    assert out["per_day"] == [{"day": "2026-11-23", "counts": out["totals"]["hits"]}]
    assert AuditEvent.objects.count() == events
    assert RuleHit.objects.count() == RuleState.objects.count() == 0


def test_a_saved_rule_is_backtested_at_its_version(as_user, noc_x, world, hot_hour):
    rule = rule_create(actor=OPS, user=None, site=world.site_x, **RULE)
    r = as_user(noc_x).post(f"/api/admin/v1/rules/{rule.pk}/backtest", PERIOD, content_type="application/json")
    assert r.status_code == 200, r.content
    assert (r.json()["rule_id"], r.json()["version"], r.json()["totals"]["miners_hit"]) == (rule.pk, 1, 1)


def test_the_period_defaults_to_the_last_24_hours(as_user, noc_x, world, hot_hour):
    rule = rule_create(actor=OPS, user=None, site=world.site_x, **RULE)
    r = as_user(noc_x).post(f"/api/admin/v1/rules/{rule.pk}/backtest", {}, content_type="application/json")
    assert r.status_code == 200
    end = dt.datetime.fromisoformat(r.json()["end"])
    assert end == minute(60) and dt.datetime.fromisoformat(r.json()["start"]) == minute(60) - dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"end": DAY.isoformat()}, "BACKTEST_PERIOD_INVALID", "end"),
        ({"start": "yesterday"}, "BACKTEST_PERIOD_INVALID", "start"),
        ({"end": (DAY + dt.timedelta(days=2)).isoformat()}, "BACKTEST_PERIOD_INVALID", "end"),
        ({"start": (DAY - dt.timedelta(days=40)).isoformat()}, "BACKTEST_PERIOD_INVALID", "end"),
        (
            {"metric": "fan", "op": "lt", "threshold": 1000, "clear_threshold": None},
            "BACKTEST_METRIC_UNAVAILABLE",
            "metric",
        ),
        ({"clear_threshold": 95}, "INVALID_RULE", "clear_threshold"),
        ({"site_id": ""}, "INVALID_RULE", "site_id"),
    ],
)
def test_bad_input_is_400_naming_the_field(as_user, noc_x, world, hot_hour, change, code, field):
    r = as_user(noc_x).post("/api/admin/v1/rules/backtest", DRAFT | PERIOD | change, content_type="application/json")
    assert r.status_code == 400, r.content
    assert (r.json()["error_code"], r.json()["field"]) == (code, field)


def test_another_sites_rule_or_draft_is_403_and_customers_are_403(as_user, noc_x, customer_a, world, hot_hour):
    on_y = rule_create(actor=OPS, user=None, site=world.site_y, **RULE)
    own = rule_create(actor=OPS, user=None, site=world.site_x, **RULE)
    noc = as_user(noc_x)
    assert (
        noc.post(f"/api/admin/v1/rules/{on_y.pk}/backtest", PERIOD, content_type="application/json").status_code == 403
    )
    assert noc.post("/api/admin/v1/rules/999999/backtest", PERIOD, content_type="application/json").status_code == 403
    body = DRAFT | PERIOD | {"site_id": "SITE-Y"}
    assert noc.post("/api/admin/v1/rules/backtest", body, content_type="application/json").status_code == 403
    foreign_miner = DRAFT | PERIOD | {"miners": [world.miners_b_y[0].miner_id]}
    assert noc.post("/api/admin/v1/rules/backtest", foreign_miner, content_type="application/json").status_code == 403
    customer = as_user(customer_a)
    assert (
        customer.post(f"/api/admin/v1/rules/{own.pk}/backtest", PERIOD, content_type="application/json").status_code
        == 403
    )
    body = DRAFT | PERIOD
    assert customer.post("/api/admin/v1/rules/backtest", body, content_type="application/json").status_code == 403


def test_the_backtest_routes_are_in_the_openapi_schema(client):
    schema = client.get("/api/schema/?format=json").json()
    assert "post" in schema["paths"]["/api/admin/v1/rules/backtest"]
    assert "post" in schema["paths"]["/api/admin/v1/rules/{id}/backtest"]
