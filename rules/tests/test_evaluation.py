"""The rule pass end to end: samples go in through the real upload endpoint, passes run at a frozen
clock, and the commands, hits, states and audit events that come out are counted."""

import datetime as dt
import threading

import pytest
from django.core.management import call_command
from django.db import connection

from audit.models import AuditEvent
from audit.services import Actor
from control.models import Command, CommandState
from hosting.models import MaintenanceWindow
from rules.models import HitKind, Mode, RuleHit, RuleState
from rules.services.definitions import rule_create, rule_update
from rules.services.evaluation import rules_evaluate
from telemetry.tests.ingest_fixtures import gz, record
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
OPS = Actor.system("test.ops")


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture
def hot_rule(world):
    return rule_create(
        actor=OPS,
        user=None,
        site=world.site_x,
        name="overheat",
        metric="temp_max",
        op="gt",
        threshold=85,
        clear_threshold=75,
        consecutive_samples=3,
        cooldown_sec=600,
        command_type="set_fan",
        params={"speed": 100},
        recovery_command_type="set_fan",
        recovery_params={"speed": 70},
    )


class Farm:
    """Uploads one sample per miner at a minute through /api/collector/upload, then runs a pass."""

    def __init__(self, client, world, time_machine):
        self.client, self.world, self.clock = client, world, time_machine

    def upload(self, minute: float, temps: dict, **fields):
        now = at(minute)
        self.clock.move_to(now + dt.timedelta(seconds=5), tick=False)
        body = gz(
            [
                record(miner.miner_id, now, temperature_max=temp, miner_key=miner.miner_key, **fields)
                for miner, temp in temps.items()
            ]
        )
        response = self.client.post(
            "/api/collector/upload",
            data=body,
            content_type="application/octet-stream",
            HTTP_AUTHORIZATION=f"Bearer {self.world.token_x}",
            HTTP_X_SITE_ID="SITE-X",
            HTTP_X_DEVICE_ID="dev-x",
            HTTP_X_UPLOAD_MODE="raw",
            HTTP_CONTENT_ENCODING="gzip",
        )
        assert response.status_code == 200, response.content
        assert response.json()["success"] is True

    def step(self, minute: float, temps: dict, **fields):
        self.upload(minute, temps, **fields)
        return rules_evaluate(now=at(minute) + dt.timedelta(seconds=10))


@pytest.fixture
def farm(client, world, time_machine):
    return Farm(client, world, time_machine)


def hits(kind: str) -> int:
    return RuleHit.objects.filter(kind=kind).count()


def test_a_sustained_breach_proposes_one_command_per_cooldown(farm, world, hot_rule):
    hot = world.miners_a_x[0]
    others = dict.fromkeys(world.miners_a_x[1:], 60)
    reports = [farm.step(minute, {hot: 90, **others}) for minute in range(0, 25)]
    triggers = [i for i, r in enumerate(reports) if r.count(HitKind.TRIGGER)]
    # third sample (minute 2), then each time the 600 s cooldown has run out: minutes 12 and 22
    assert triggers == [2, 12, 22]
    assert hits(HitKind.TRIGGER) == 3
    # the first command is still queued (no collector polled), so the later hits find it by its dedupe key
    command = Command.objects.get()
    assert (command.command_type, command.params, command.miner_id) == ("set_fan", {"speed": 100}, hot.pk)
    assert command.rule_id == hot_rule.pk and command.created_by_system == "rules"
    assert command.evidence["condition"] == "temp_max > 85" and command.evidence["version"] == 1
    assert [s["value"] for s in command.evidence["samples"]][:3] == [90, 90, 90]
    assert set(RuleHit.objects.values_list("command_id", flat=True)) == {command.pk}
    # once it ended, the next cooldown's hit is a new command
    Command.objects.update(state=CommandState.SUCCEEDED)
    for minute in range(25, 33):
        farm.step(minute, {hot: 90})
    assert Command.objects.count() == 2
    assert Command.objects.filter(state=CommandState.QUEUED).get().dedupe_key == f"rule:{hot_rule.pk}:trigger/{hot.pk}"


def test_jitter_around_the_threshold_does_not_flap(farm, world, hot_rule):
    miner = world.miners_a_x[0]
    for minute in range(12):  # 84, 86, 84, …: never three breaching samples in a row
        farm.step(minute, {miner: 86 if minute % 2 else 84})
    assert RuleHit.objects.count() == 0 and Command.objects.count() == 0
    for minute in range(12, 15):
        farm.step(minute, {miner: 95})
    assert hits(HitKind.TRIGGER) == 1
    for minute in range(15, 24):  # between the clear threshold (75) and the trigger: held, no recovery
        farm.step(minute, {miner: 80 if minute % 2 else 86})
    assert hits(HitKind.RECOVERY) == 0 and RuleState.objects.get().mode == Mode.TRIGGERED
    report = farm.step(24, {miner: 70})
    assert report.count(HitKind.RECOVERY) == 1 and RuleState.objects.get().mode == Mode.NORMAL
    recovery = Command.objects.get(dedupe_key__contains=":recovery/")
    assert recovery.params == {"speed": 70}
    assert hits(HitKind.TRIGGER) == 1


def test_the_daily_cap_holds(farm, world, hot_rule):
    rule_update(actor=OPS, user=None, rule=hot_rule, daily_cap=1, cooldown_sec=120)
    miner = world.miners_a_x[0]
    for minute in range(12):
        farm.step(minute, {miner: 90})
        Command.objects.update(state=CommandState.SUCCEEDED)
    assert hits(HitKind.TRIGGER) == 1
    assert hits(HitKind.CAPPED) >= 3  # recorded once per cooldown, not once per pass
    assert hits(HitKind.CAPPED) <= 5
    assert Command.objects.count() == 1


def test_a_maintenance_window_suppresses_actions(farm, world, hot_rule):
    owner = UserFactory(username="tech")
    MaintenanceWindow.objects.create(
        site=world.site_x, zone=world.zone_x1, owner=owner, reason="fan swap", starts_at=at(-5), ends_at=at(30)
    )
    in_zone, elsewhere = world.miners_a_x[0], world.miners_b_x[0]
    for minute in range(4):
        farm.step(minute, {in_zone: 90, elsewhere: 90})
    assert sorted(RuleHit.objects.values_list("miner_id", "kind")) == sorted(
        [(elsewhere.pk, HitKind.TRIGGER), (in_zone.pk, HitKind.SUPPRESSED)]
    )
    assert RuleHit.objects.get(miner=in_zone).kind == HitKind.SUPPRESSED
    assert list(Command.objects.values_list("miner_id", flat=True)) == [elsewhere.pk]


def test_stale_data_proposes_nothing(farm, world, hot_rule):
    miner = world.miners_a_x[0]
    for minute in range(3):
        farm.upload(minute, {miner: 95})
    report = rules_evaluate(now=at(2) + dt.timedelta(seconds=hot_rule.stale_sec + 60))
    assert report.stale == 1 and report.decisions == []
    assert Command.objects.count() == 0 and RuleHit.objects.count() == 0


def test_an_edit_mid_breach_fires_under_the_new_version(farm, world, hot_rule):
    miner = world.miners_a_x[0]
    farm.step(0, {miner: 90})
    farm.step(1, {miner: 90})
    rule_update(actor=OPS, user=None, rule=hot_rule, threshold=88, clear_threshold=78)
    farm.step(2, {miner: 90})
    hit = RuleHit.objects.get()
    assert (hit.version, hit.threshold, hit.evidence["condition"]) == (2, 88, "temp_max > 88")
    assert hot_rule.versions.count() == 2
    assert Command.objects.get().evidence["version"] == 2
    # an edit that changes nothing makes no version
    rule_update(actor=OPS, user=None, rule=hot_rule, threshold=88)
    assert hot_rule.versions.count() == 2


def test_hits_are_audited_once_per_pass_per_chain(farm, world, hot_rule):
    hot = [*world.miners_a_x, *world.miners_b_x]
    for minute in range(3):
        farm.step(minute, dict.fromkeys(hot, 90))
    assert hits(HitKind.TRIGGER) == len(hot)
    events = AuditEvent.objects.filter(action="rules.hit.trigger")
    assert events.count() == len(hot)
    by_chain = {}
    for e in events:
        by_chain.setdefault(e.chain_key, set()).add(e.occurred_at)
    assert len(by_chain) == 2  # tenant A's chain and tenant B's
    assert all(len(times) == 1 for times in by_chain.values())  # one append (one statement time) per chain


def test_a_dry_run_writes_nothing_and_the_command_prints_it(farm, world, hot_rule, capsys):
    miner = world.miners_a_x[0]
    for minute in range(3):
        farm.upload(minute, {miner: 90})
    report = rules_evaluate(now=at(2) + dt.timedelta(seconds=10), dry_run=True)
    assert report.count(HitKind.TRIGGER) == 1
    assert RuleState.objects.count() == RuleHit.objects.count() == Command.objects.count() == 0
    assert not AuditEvent.objects.filter(action__startswith="rules.hit").exists()
    call_command("evaluate_rules", "--site", "SITE-X", "--dry-run")
    out = capsys.readouterr().out
    assert "dry run: 1 site(s), 1 rule(s)" in out
    assert RuleHit.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_passes_at_once_act_once(client, world, time_machine):
    rule = rule_create(
        actor=OPS,
        user=None,
        site=world.site_x,
        name="overheat",
        metric="temp_max",
        op="gt",
        threshold=85,
        command_type="set_fan",
        params={"speed": 100},
    )
    farm = Farm(client, world, time_machine)
    farm.upload(0, {world.miners_a_x[0]: 95})
    now = at(0) + dt.timedelta(seconds=10)
    barrier, errors = threading.Barrier(2), []

    def one_pass():
        try:
            barrier.wait()
            rules_evaluate(now=now)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one_pass) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert RuleHit.objects.filter(rule=rule, kind=HitKind.TRIGGER).count() == 1
    assert Command.objects.count() == 1


def test_a_storm_pass_gives_every_hot_miner_its_own_command_evidence_and_alert(farm, world, hot_rule):
    """Every miner of the site hot at once: the pass proposes the rule's commands together, yet each
    is its own command with its own samples, and an alert-only rule raises one alert per miner."""
    from hosting.models import Alert

    alert_only = {"name": "hot-alert", "metric": "temp_max", "op": "gt", "threshold": 85, "consecutive_samples": 3}
    rule_create(actor=OPS, user=None, site=world.site_x, **alert_only)
    miners = world.miners_a_x + world.miners_b_x
    for minute in range(3):
        report = farm.step(minute, {m: 90 + n + minute for n, m in enumerate(miners)})
    assert report.count(HitKind.TRIGGER) == 2 * len(miners)
    commands = {c.miner_id: c for c in Command.objects.filter(rule_id=hot_rule.pk)}
    assert set(commands) == {m.pk for m in miners}
    for n, m in enumerate(miners):
        c = commands[m.pk]
        assert c.dedupe_key == f"rule:{hot_rule.pk}:trigger/{m.pk}" and c.batch_id is None
        assert [s["value"] for s in c.evidence["samples"]] == [92 + n, 91 + n, 90 + n]
        assert c.evidence["value"] == 92 + n and c.evidence["version"] == hot_rule.version
    alerts = Alert.objects.filter(rule_id__isnull=False).exclude(rule_id=hot_rule.pk)
    assert sorted(alerts.values_list("miner_id", flat=True)) == sorted(m.pk for m in miners)
    assert {a.details["value"] for a in alerts} == {92 + n for n in range(len(miners))}
    assert AuditEvent.objects.filter(action="control.command.created").count() == len(miners)
    assert AuditEvent.objects.filter(action="rules.hit.trigger").count() == 2 * len(miners)
