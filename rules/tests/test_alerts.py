"""The engine's alerts, through hosting's services: an alert-only rule raises one alert per miner
and resolves it on recovery; stale data raises one miner_stale alert and no command; a dark
collector's one site alert replaces the per-miner ones."""

import datetime as dt

import pytest

from audit.services import Actor
from control.models import Command
from hosting.models import Alert, AlertSource, AlertState
from hosting.services.alerts import COLLECTOR_DARK, alert_raise
from rules.models import HitKind, RuleHit
from rules.services.definitions import rule_create
from rules.services.evaluation import rules_evaluate
from rules.tests.test_evaluation import OPS, at, farm  # noqa: F401 — the farm fixture

pytestmark = pytest.mark.django_db


def _rule(world, **fields):
    base = {"name": "hot", "metric": "temp_max", "op": "gt", "threshold": 85, "clear_threshold": 75}
    return rule_create(actor=OPS, user=None, site=world.site_x, **(base | fields))


def test_an_alert_only_rule_raises_one_alert_and_resolves_it(farm, world):  # noqa: F811
    rule = _rule(world, cooldown_sec=60, consecutive_samples=2)
    miner = world.miners_a_x[0]
    for minute in range(8):
        farm.step(minute, {miner: 92})
    assert RuleHit.objects.filter(kind=HitKind.TRIGGER).count() >= 3  # re-triggers once per cooldown…
    alert = Alert.objects.get()  # …but the live alert is one
    assert (alert.source, alert.miner_id, alert.rule_id, alert.tenant_id) == (
        AlertSource.RULE,
        miner.pk,
        rule.pk,
        world.tenant_a.pk,
    )
    assert "temp_max > 85" in alert.title and Command.objects.count() == 0
    assert RuleHit.objects.filter(kind=HitKind.TRIGGER).first().evidence["alert_id"] == alert.pk
    farm.step(8, {miner: 70})
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED


def test_stale_data_gives_one_alert_and_no_command(farm, world):  # noqa: F811
    _rule(world, command_type="set_fan", params={"speed": 100})
    _rule(world, name="hot too", threshold=80, clear_threshold=70, command_type="set_fan", params={"speed": 90})
    miner = world.miners_a_x[0]
    farm.upload(0, {miner: 95})
    later = at(0) + dt.timedelta(minutes=10)
    first = rules_evaluate(now=later)
    again = rules_evaluate(now=later + dt.timedelta(minutes=1))
    assert (first.stale, first.stale_alerts, again.stale_alerts) == (2, 1, 0)  # two rules see it, one alert
    alert = Alert.objects.get()
    assert (alert.kind, alert.miner_id, alert.source) == ("miner_stale", miner.pk, AlertSource.RULE)
    assert Command.objects.count() == 0 and RuleHit.objects.count() == 0
    farm.step(12, {miner: 60})  # it reports again: the next pass resolves the stale alert
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED and Alert.objects.count() == 1


def test_a_dark_collector_replaces_the_per_miner_alerts(farm, world):  # noqa: F811
    _rule(world, command_type="set_fan", params={"speed": 100})
    miners = world.miners_a_x
    farm.upload(0, dict.fromkeys(miners, 95))
    alert_raise(site=world.site_x, kind=COLLECTOR_DARK, title="Collector edge-x dark", actor=Actor.system("t"))
    report = rules_evaluate(now=at(0) + dt.timedelta(minutes=10))
    assert report.stale == len(miners) and report.stale_alerts == 0
    assert list(Alert.objects.values_list("kind", flat=True)) == [COLLECTOR_DARK]
    assert Command.objects.count() == 0
