"""Backtest: a rule replayed over a stored day of the 1-minute tier says what live passes did on the
same data. The day goes in through the real upload endpoint (which writes raw, live and 1m), a
live pass runs after every minute, and the backtest of the same rule over the day must give the
same (miner, kind, minute, value) set — hot stretches with re-triggers, the daily cap, a
maintenance window, jitter around the threshold with hysteresis, a short gap and a stale miner."""

import datetime as dt

import pytest
from django.db import connection

from audit.models import AuditEvent
from audit.services import Actor
from control.models import Command
from core.errors import Forbidden
from hosting.models import Alert, MaintenanceWindow
from rules.errors import BacktestMetricUnavailable, BacktestPeriodInvalid, InvalidRule
from rules.models import HitKind, Metric, RuleHit, RuleState
from rules.services.backtest import rule_backtest
from rules.services.definitions import rule_create
from rules.services.evaluation import rules_evaluate
from rules.sql import METRIC_1M_SQL, METRIC_SQL
from telemetry.tests.ingest_fixtures import gz, record
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
DAY = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
OPS = Actor.system("test.ops")
RULE = {
    "name": "overheat",
    "metric": "temp_max",
    "op": "gt",
    "threshold": 85,
    "clear_threshold": 75,
    "consecutive_samples": 3,
    "cooldown_sec": 600,
    "daily_cap": 5,
    "command_type": "set_fan",
    "params": {"speed": 100},
    "recovery_command_type": "set_fan",
    "recovery_params": {"speed": 70},
}


def minute(m: int) -> dt.datetime:
    return DAY + dt.timedelta(minutes=m)


def upload(client, world, clock, ts: dt.datetime, temps: dict) -> None:
    clock.move_to(ts + dt.timedelta(seconds=5), tick=False)
    body = gz([record(miner.miner_id, ts, temperature_max=t, miner_key=miner.miner_key) for miner, t in temps.items()])
    response = client.post(
        "/api/collector/upload",
        data=body,
        content_type="application/octet-stream",
        HTTP_AUTHORIZATION=f"Bearer {world.token_x}",
        HTTP_X_SITE_ID="SITE-X",
        HTTP_X_DEVICE_ID="dev-x",
        HTTP_X_UPLOAD_MODE="raw",
        HTTP_CONTENT_ENCODING="gzip",
    )
    assert response.status_code == 200 and response.json()["success"] is True, response.content


def day_of_samples(world) -> dict[int, dict]:
    """minute → {miner: temperature_max}: one sample a minute, a miner without one that minute is absent."""
    hot, jitter, normal = world.miners_a_x
    gappy, gone = world.miners_b_x
    out: dict[int, dict] = {}
    for m in range(1440):
        temps = {hot: 90 if 120 <= m < 160 or 840 <= m < 960 else 60, normal: 60}
        # 84/86 flapping never makes three in a row, except 600–605; 70 at 700–709 clears it
        temps[jitter] = 86 if 600 <= m < 606 else (70 if 700 <= m < 710 else (86 if m % 2 else 84))
        if not (311 <= m < 313 or 320 <= m < 350):  # a 2-minute gap (still fresh) and a 30-minute one (stale)
            temps[gappy] = 90 if 300 <= m < 400 else 60
        if m < 1005:  # hot for five minutes, then silent for the rest of the day
            temps[gone] = 90 if m >= 1000 else 60
        out[m] = temps
    return out


@pytest.fixture
def stored_day(client, world, time_machine):
    """The day uploaded minute by minute with a live pass after each; returns the rule and the live hits."""
    rule = rule_create(actor=OPS, user=None, site=world.site_x, **RULE)
    MaintenanceWindow.objects.create(
        site=world.site_x,
        zone=world.zone_x1,
        owner=UserFactory(username="tech"),
        reason="fan swap",
        starts_at=minute(900),
        ends_at=minute(930),
    )
    for m, temps in day_of_samples(world).items():
        upload(client, world, time_machine, minute(m), temps)
        rules_evaluate(now=minute(m) + dt.timedelta(seconds=10))
    time_machine.move_to(DAY + dt.timedelta(days=1, hours=1), tick=False)
    live = {
        (h.miner.miner_id, h.kind, h.at.replace(second=0, microsecond=0), h.value)
        for h in RuleHit.objects.select_related("miner")
    }
    return rule, live


def replayed(report) -> set:
    return {(m.miner_id, h["kind"], h["at"], h["value"]) for m in report.miners for h in m.hits}


def writes() -> tuple:
    return (
        RuleState.objects.count(),
        RuleHit.objects.count(),
        Command.objects.count(),
        Alert.objects.count(),
        AuditEvent.objects.count(),
    )


def test_a_backtest_over_a_stored_day_matches_the_live_passes(stored_day, world):
    rule, live = stored_day
    hot, jitter, normal = world.miners_a_x
    gappy, gone = world.miners_b_x
    kinds = {(miner, kind) for miner, kind, _, _ in live}
    # the day exercises every edge: re-triggers per cooldown, the cap, maintenance, hysteresis, gaps
    assert kinds == {
        (hot.miner_id, HitKind.TRIGGER),
        (hot.miner_id, HitKind.CAPPED),
        (hot.miner_id, HitKind.SUPPRESSED),
        (hot.miner_id, HitKind.RECOVERY),
        (jitter.miner_id, HitKind.TRIGGER),
        (jitter.miner_id, HitKind.RECOVERY),
        (gappy.miner_id, HitKind.TRIGGER),
        (gappy.miner_id, HitKind.CAPPED),
        (gappy.miner_id, HitKind.RECOVERY),
        (gone.miner_id, HitKind.TRIGGER),
    }
    # a trigger in the fresh 2-minute gap (the cooldown ran out with no new sample), none while stale
    gappy_triggers = sorted(at for m, k, at, _ in live if m == gappy.miner_id and k == HitKind.TRIGGER)
    assert minute(312) in gappy_triggers and not any(minute(324) <= at < minute(350) for at in gappy_triggers)
    before = writes()

    report = rule_backtest(rule_or_definition=rule, start=DAY, end=DAY + dt.timedelta(days=1))

    assert replayed(report) == live
    assert writes() == before  # nothing written: no state, hit, command, alert or audit event
    assert (report.rule_id, report.version, report.definition["threshold"]) == (rule.pk, 1, 85)
    assert normal.miner_id not in {m.miner_id for m in report.miners}
    assert report.miners_read == 4  # the normal miner never breaches: not even read
    hot_hits = next(m for m in report.miners if m.miner_id == hot.miner_id)
    assert hot_hits.counts[HitKind.TRIGGER] == 5 and hot_hits.first_at == minute(122)
    totals = report.as_dict()["totals"]
    assert totals["miners_hit"] == 4 and sum(totals["hits"].values()) == len(live)
    assert report.as_dict()["per_day"] == [{"day": DAY.date(), "counts": totals["hits"]}]


def test_a_draft_is_validated_like_a_new_rule_and_replays_without_a_rule(client, world, time_machine):
    hot = world.miners_a_x[0]
    for m in range(10):
        upload(client, world, time_machine, minute(m), {hot: 90})
    time_machine.move_to(minute(60), tick=False)
    draft = {"site": world.site_x, **RULE, "consecutive_samples": 4, "cooldown_sec": 300}
    report = rule_backtest(rule_or_definition=draft, start=DAY, end=minute(60))
    assert report.rule_id is None and report.version is None
    # the fourth sample, then each cooldown — minute 13 too: the newest sample (minute 9) is still fresh
    assert replayed(report) == {(hot.miner_id, HitKind.TRIGGER, minute(m), 90.0) for m in (3, 8, 13)}
    assert RuleHit.objects.count() == RuleState.objects.count() == 0
    with pytest.raises(InvalidRule) as exc:
        rule_backtest(rule_or_definition=draft | {"clear_threshold": 95}, start=DAY, end=minute(60))
    assert exc.value.extra["field"] == "clear_threshold"
    with pytest.raises(BacktestMetricUnavailable) as exc:
        rule_backtest(
            rule_or_definition=draft | {"metric": "fan", "op": "lt", "threshold": 1000, "clear_threshold": None},
            start=DAY,
            end=minute(60),
        )
    assert "fan" in exc.value.message and exc.value.error_code == "BACKTEST_METRIC_UNAVAILABLE"


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (minute(60), minute(0), "end"),  # backwards
        (minute(0), minute(0), "end"),  # empty
        (DAY - dt.timedelta(days=40), DAY, "end"),  # longer than RULES_BACKTEST_MAX_DAYS
        (DAY, DAY + dt.timedelta(days=3), "end"),  # ends in the future
        (DAY.replace(tzinfo=None), DAY + dt.timedelta(hours=1), "start"),  # no time zone
    ],
)
def test_period_errors(world, time_machine, start, end, field):
    time_machine.move_to(DAY + dt.timedelta(days=1), tick=False)
    rule = rule_create(actor=OPS, user=None, site=world.site_x, **RULE)
    with pytest.raises(BacktestPeriodInvalid) as exc:
        rule_backtest(rule_or_definition=rule, start=start, end=end)
    assert exc.value.extra["field"] == field and exc.value.status_code == 400


def test_every_metric_has_a_1_minute_form_or_is_refused():
    assert set(METRIC_1M_SQL) == set(METRIC_SQL) == set(Metric.values)


@pytest.mark.parametrize("metric", [m for m, sql in METRIC_1M_SQL.items() if sql is not None])
def test_each_1_minute_metric_equals_the_raw_metric_at_one_sample_a_minute(client, world, time_machine, metric):
    """The same sample seen through METRIC_SQL (raw) and METRIC_1M_SQL (its 1m row): equal values."""
    miner = world.miners_a_x[0]
    samples = [
        {"temperature_max": 91.5, "hashrate_5s_ghs": 150000.0},
        {"temperature_max": 70, "hashrate_5s_ghs": 0.0},
        {"online": False, "temperature_max": 0, "hashrate_5s_ghs": 0.0},
    ]
    for m, fields in enumerate(samples):
        time_machine.move_to(minute(m) + dt.timedelta(seconds=5), tick=False)
        body = gz([record(miner.miner_id, minute(m), miner_key=miner.miner_key, **fields)])
        r = client.post(
            "/api/collector/upload",
            data=body,
            content_type="application/octet-stream",
            HTTP_AUTHORIZATION=f"Bearer {world.token_x}",
            HTTP_X_SITE_ID="SITE-X",
            HTTP_X_DEVICE_ID="dev-x",
            HTTP_X_UPLOAD_MODE="raw",
            HTTP_CONTENT_ENCODING="gzip",
        )
        assert r.status_code == 200
    params = {"not_hashing_pct": 10.0, "miner": miner.pk}
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT ({METRIC_SQL[metric]}) FROM telemetry_raw x JOIN tenants_miner m ON m.id = x.miner_id "
            "WHERE x.miner_id = %(miner)s ORDER BY x.ts",
            params,
        )
        raw = [v for (v,) in cur.fetchall()]
        cur.execute(
            f"SELECT ({METRIC_1M_SQL[metric]}) FROM telemetry_1m x JOIN tenants_miner m ON m.id = x.miner_id "
            "WHERE x.miner_id = %(miner)s ORDER BY x.bucket",
            params,
        )
        one_minute = [v for (v,) in cur.fetchall()]
    online = [v for v, s in zip(raw, samples, strict=True) if s.get("online", True)]
    online_1m = [v for v, s in zip(one_minute, samples, strict=True) if s.get("online", True)]
    assert online_1m == pytest.approx(online)
    if metric in ("offline", "not_hashing"):  # defined on offline samples too
        assert one_minute == raw


def test_the_service_refuses_a_rule_or_draft_outside_the_callers_scope(world, noc_y, time_machine):
    time_machine.move_to(minute(60), tick=False)
    rule = rule_create(actor=OPS, user=None, site=world.site_x, **RULE)
    with pytest.raises(Forbidden):
        rule_backtest(rule_or_definition=rule, start=DAY, end=minute(60), user=noc_y)
    with pytest.raises(Forbidden):
        rule_backtest(rule_or_definition={"site": world.site_x, **RULE}, start=DAY, end=minute(60), user=noc_y)
