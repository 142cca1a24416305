"""The backtest in the admin: "Backtest" on a rule's change page and "Backtest a draft" on the
changelist render the totals, the inline SVG chart and the miners hit; another site's rule (or a
missing one) is 403; nothing is written."""

import pytest

from audit.models import AuditEvent
from audit.services import Actor
from rules.models import RuleHit, RuleState
from rules.services.definitions import rule_create
from rules.tests.test_backtest import DAY, RULE, minute

pytestmark = pytest.mark.django_db
OPS = Actor.system("test.ops")
PERIOD = {"start": "2026-11-23 00:00:00", "end": "2026-11-23 01:00:00"}


def test_a_noc_backtests_a_rule_from_its_change_page(as_user, noc_x, world, hot_hour):
    rule = rule_create(actor=OPS, user=None, site=world.site_x, **RULE)
    client = as_user(noc_x)
    page = client.get(f"/admin/rules/rule/{rule.pk}/change/").content.decode()
    assert f'href="/admin/rules/rule/{rule.pk}/backtest/"' in page
    form = client.get(f"/admin/rules/rule/{rule.pk}/backtest/")
    assert form.status_code == 200 and 'name="start"' in form.content.decode()
    assert "backtest-chart" not in form.content.decode()  # the form first, defaulting to the last 24 h
    events = AuditEvent.objects.count()
    r = client.get(f"/admin/rules/rule/{rule.pk}/backtest/", PERIOD)
    body = r.content.decode()
    assert r.status_code == 200
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in body and 'id="backtest-chart"' in body
    assert "2 trigger" in body and hot_hour.miner_id in body and "(version 1)" in body
    assert AuditEvent.objects.count() == events and RuleHit.objects.count() == RuleState.objects.count() == 0


def test_a_period_error_is_shown_not_raised(as_user, noc_x, world, time_machine):
    time_machine.move_to(minute(60), tick=False)
    rule = rule_create(actor=OPS, user=None, site=world.site_x, **RULE)
    r = as_user(noc_x).get(f"/admin/rules/rule/{rule.pk}/backtest/", {"start": PERIOD["end"], "end": PERIOD["start"]})
    assert r.status_code == 200 and "must be after start" in r.content.decode()


def test_a_draft_is_backtested_from_the_changelist(as_user, noc_x, world, hot_hour):
    client = as_user(noc_x)
    assert 'href="/admin/rules/rule/backtest/"' in client.get("/admin/rules/rule/").content.decode()
    assert client.get("/admin/rules/rule/backtest/").status_code == 200
    fields = {
        "site": world.site_x.pk,
        "metric": "temp_max",
        "op": "gt",
        "threshold": "85",
        "clear_threshold": "75",
        "consecutive_samples": "3",
        "min_duration_sec": "0",
        "stale_sec": "300",
        "cooldown_sec": "600",
        "daily_cap": "6",
        "command_type": "",
        "params": "{}",
        "recovery_command_type": "",
        "recovery_params": "{}",
        "priority_class": "40",
        "miners": "",
        "excluded_miners": "",
    }
    r = client.post("/admin/rules/rule/backtest/", fields | PERIOD)
    body = r.content.decode()
    assert r.status_code == 200 and 'id="backtest-chart"' in body, body[-2000:]
    assert "Draft ·" in body and "2 trigger" in body and hot_hour.miner_id in body
    bad = client.post("/admin/rules/rule/backtest/", fields | PERIOD | {"clear_threshold": "95"})
    assert "hysteresis" in bad.content.decode() and 'id="backtest-chart"' not in bad.content.decode()
    assert RuleHit.objects.count() == 0


def test_another_sites_rule_and_a_missing_one_are_403(as_user, noc_x, world, client, time_machine):
    time_machine.move_to(DAY, tick=False)
    on_y = rule_create(actor=OPS, user=None, site=world.site_y, **RULE)
    noc = as_user(noc_x)
    assert noc.get(f"/admin/rules/rule/{on_y.pk}/backtest/").status_code == 403
    assert noc.get("/admin/rules/rule/999999/backtest/").status_code == 403


def test_the_chart_stacks_counts_and_escapes_its_texts():
    from hosting.reports.chart import counts_svg

    buckets = [
        {"label": "00:00", "title": "a <b>", "counts": {"trigger": 2, "capped": 1}},
        {"label": "01:00", "title": "c", "counts": {}},
    ]
    series = [("trigger", "trigger", "#c00"), ("capped", "capped & more", "#fa0")]
    svg = counts_svg(buckets, series, caption="hits <per> hour", chart_id="x")
    assert svg.count("<rect") == 2 + len(
        series
    )  # two stacked bars in the first bucket, none in the empty one, the legend
    assert "a &lt;b&gt;: 2 trigger" in svg and "capped &amp; more" in svg and "hits &lt;per&gt; hour" in svg
    assert "<b>" not in svg
