"""The legacy thermal routes over the rule engine: GET/PUT /api/thermal/config and the hosting
variants read and write the site's three thermal rules through the rule services (versions, audit),
POST …/check runs one pass of the site, events and stats read the thermal rules' hits. Operators of
the site only; another site, a missing one and customers 403 in the original's error shape."""

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.services import Actor
from control.models import Command, CommandState
from hosting.models import Alert, AlertState
from rules.models import Rule, RuleVersion, ThermalLevel
from rules.services.definitions import rule_create, rule_update
from rules.services.thermal import thermal_config_apply
from rules.tests.test_evaluation import OPS, farm  # noqa: F401 — the farm fixture

pytestmark = pytest.mark.django_db
CONFIG = {
    "site_id": "SITE-X",
    "warning_temp": 72,
    "throttle_temp": 82,
    "critical_temp": 92,
    "recovery_temp": 66,
    "throttle_frequency_percent": 75,
    "cooldown_minutes": 5,
    "is_enabled": True,
}


@pytest.fixture
def noc(as_user, noc_x):
    return as_user(noc_x)


def put(client, body, path="/api/thermal/config"):
    return client.put(path, body, content_type="application/json")


def thermal() -> dict[str, Rule]:
    return {r.thermal_level: r for r in Rule.objects.exclude(thermal_level="")}


def test_get_before_any_put_answers_the_defaults_and_writes_nothing(noc, world):
    r = noc.get("/api/thermal/config?site_id=SITE-X")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["success"] is True
    config = body["config"]
    assert (config["id"], config["site_code"], config["configured"], config["is_enabled"]) == (
        world.site_x.pk,
        "SITE-X",
        False,
        False,
    )
    assert (config["warning_temp"], config["throttle_temp"], config["critical_temp"], config["recovery_temp"]) == (
        70,
        80,
        90,
        65,
    )
    assert config["rules"] == [] and Rule.objects.count() == 0


def test_put_writes_three_rules_through_the_services(noc, world):
    r = put(noc, CONFIG)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["success"] is True and body["written"] == ["warning", "throttle", "critical"]
    rules = thermal()
    warning, throttle, critical = rules["warning"], rules["throttle"], rules["critical"]
    assert (warning.metric, warning.op, warning.threshold, warning.clear_threshold, warning.command_type) == (
        "temp_max",
        "gte",
        72,
        66,
        "",
    )
    assert (throttle.threshold, throttle.clear_threshold, throttle.cooldown_sec) == (82, 66, 300)
    assert (throttle.command_type, throttle.params) == ("set_frequency", {"frequency": 450})  # 600 MHz × 75 %
    assert (throttle.recovery_command_type, throttle.recovery_params) == ("set_frequency", {"frequency": 600})
    assert (critical.threshold, critical.command_type, critical.approval_required, critical.priority_class) == (
        92,
        "disable_hashing",
        True,
        40,
    )
    assert RuleVersion.objects.count() == 3
    created = AuditEvent.objects.filter(action="rules.rule.created", entity_type="rules.rule")
    assert created.count() == 3 and all(e.payload["thermal_level"] for e in created)
    # read back through the hosting variant, by the site's id
    config = noc.get(f"/hosting/api/thermal/config/{world.site_x.pk}").json()["config"]
    assert config["configured"] is True and config["is_enabled"] is True
    picked = {k: config[k] for k in CONFIG if k != "site_id"}
    assert picked == {k: v for k, v in CONFIG.items() if k != "site_id"}
    assert [x["level"] for x in config["rules"]] == ["warning", "throttle", "critical"]


def test_an_identical_put_changes_nothing_and_a_change_bumps_only_its_rule(noc, world):
    put(noc, CONFIG)
    again = put(noc, CONFIG).json()
    assert again["written"] == [] and again["message"] == "thermal config unchanged"
    assert RuleVersion.objects.count() == 3
    changed = put(noc, {"throttle_temp": 84}, path=f"/hosting/api/thermal/config/{world.site_x.pk}").json()
    assert changed["written"] == ["throttle"] and changed["config"]["throttle_temp"] == 84
    versions = {level: r.version for level, r in thermal().items()}
    assert versions == {"warning": 1, "throttle": 2, "critical": 1}
    assert AuditEvent.objects.filter(action="rules.rule.updated").count() == 1
    off = put(noc, {"site_id": str(world.site_x.pk), "is_enabled": False}).json()  # the site by its id
    assert off["config"]["is_enabled"] is False and not any(r.enabled for r in thermal().values())


def test_an_operators_edit_of_a_thermal_rule_shows_in_the_config(noc, world):
    put(noc, CONFIG)
    rule_update(actor=OPS, user=None, rule=thermal()["critical"], threshold=95)
    assert noc.get("/api/thermal/config?site_id=SITE-X").json()["config"]["critical_temp"] == 95


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"warning_temp": 85}, "warning_temp"),  # not below throttle_temp
        ({"throttle_temp": 95}, "throttle_temp"),  # not below critical_temp
        ({"recovery_temp": 82}, "recovery_temp"),  # no hysteresis
        ({"critical_temp": "hot"}, "critical_temp"),
        ({"critical_temp": 500}, "critical_temp"),
        ({"throttle_frequency_percent": 40}, "throttle_frequency_percent"),  # below min_frequency_percent 50
        ({"throttle_frequency_percent": 80.5}, "throttle_frequency_percent"),
        ({"cooldown_minutes": -1}, "cooldown_minutes"),
        ({"is_enabled": "yes"}, "is_enabled"),
    ],
)
def test_bad_config_is_400_naming_the_field_and_writes_nothing(noc, world, change, field):
    r = put(noc, CONFIG | change)
    assert r.status_code == 400, r.content
    body = r.json()
    assert (body["success"], body["error_code"], body["field"]) == (False, "INVALID_THERMAL_CONFIG", field)
    assert body["message_en"] and body["message_zh"] == "热保护配置无效"
    assert Rule.objects.count() == 0 and AuditEvent.objects.filter(action__startswith="rules.").count() == 0


def test_check_runs_one_pass_of_the_site_and_answers_per_miner_hits(noc, farm, world):  # noqa: F811
    put(noc, CONFIG)
    hot, cool = world.miners_a_x[0], world.miners_a_x[1]
    farm.upload(0, {hot: 85, cool: 60})
    r = noc.post("/api/thermal/check", {"site_id": "SITE-X"}, content_type="application/json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["success"] is True and "2 action(s)" in body["message_en"] and body["message_zh"]
    results = body["results"]
    assert (results["checked"], results["warnings"], results["throttles"], results["criticals"]) == (5, 1, 1, 0)
    by_type = {h["event_type"]: h for h in results["hits"]}
    assert set(by_type) == {"warning", "throttle"} and {h["miner_id"] for h in results["hits"]} == {hot.miner_id}
    command = Command.objects.get(pk=by_type["throttle"]["command_id"])
    assert (command.command_type, command.params, command.state) == (
        "set_frequency",
        {"frequency": 450},
        CommandState.QUEUED,
    )
    assert Alert.objects.get(pk=by_type["warning"]["alert_id"]).state == AlertState.FIRING
    # the same pass twice acts once (the rules' cooldown)
    again = noc.post(f"/hosting/api/thermal/check/{world.site_x.pk}").json()["results"]
    assert again["actions"] == 0 and Command.objects.count() == 1

    farm.upload(1, {hot: 60})
    back = noc.post(f"/hosting/api/thermal/check/{world.site_x.pk}").json()["results"]
    assert back["recoveries"] == 2
    restore = Command.objects.exclude(pk=command.pk).get()
    assert (restore.command_type, restore.params) == ("set_frequency", {"frequency": 600})

    events = noc.get(f"/hosting/api/thermal/events/{world.site_x.pk}").json()["events"]
    assert [e["event_type"] for e in events].count("recovery") == 2 and len(events) == 4
    throttled = next(e for e in events if e["event_type"] == "throttle")
    assert (throttled["temperature"], throttled["threshold"], throttled["action_taken"]) == (
        85,
        82,
        "frequency_throttled",
    )
    assert (throttled["frequency_before"], throttled["frequency_after"], throttled["success"]) == (600, 450, True)
    assert throttled["miner_id"] == hot.miner_id and throttled["resolved_at"] is not None
    only = noc.get(f"/hosting/api/thermal/events/{world.site_x.pk}?event_type=throttle&limit=5").json()["events"]
    assert [e["id"] for e in only] == [throttled["id"]]
    assert noc.get(f"/hosting/api/thermal/events/{world.site_x.pk}?miner_id={cool.miner_id}").json()["events"] == []
    bad = noc.get(f"/hosting/api/thermal/events/{world.site_x.pk}?event_type=meltdown")
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER"


def test_a_critical_temperature_proposes_disable_hashing_for_approval(noc, farm, world):  # noqa: F811
    put(noc, CONFIG)
    miner = world.miners_a_x[0]
    farm.upload(0, {miner: 95})
    results = noc.post("/api/thermal/check?site_id=SITE-X").json()["results"]
    assert (results["warnings"], results["throttles"], results["criticals"]) == (1, 1, 1)
    disable = Command.objects.get(command_type="disable_hashing")
    assert disable.state == CommandState.PROPOSED and disable.approval_required


def test_stats_count_todays_events_and_what_is_hot_now(noc, farm, world):  # noqa: F811
    put(noc, CONFIG)
    farm.upload(0, {world.miners_a_x[0]: 85, world.miners_a_x[1]: 74, world.miners_a_x[2]: 50})
    noc.post("/api/thermal/check", {"site_id": "SITE-X"}, content_type="application/json")
    r = noc.get(f"/hosting/api/thermal/stats/{world.site_x.pk}")
    assert r.status_code == 200, r.content
    stats = r.json()["stats"]
    assert (stats["today_warnings"], stats["today_throttles"], stats["today_criticals"]) == (2, 1, 0)
    assert (stats["currently_throttled"], stats["high_temp_miners"], stats["max_temp_now"]) == (1, 2, 85)
    assert stats["last_24h"]["warning"] == 2 and stats["miners_reporting"] == 3


def test_thermal_rules_are_marked_and_keep_a_temperature_metric(noc, world):
    put(noc, CONFIG)
    r = noc.patch(f"/api/admin/v1/rules/{thermal()['throttle'].pk}", {"metric": "hashrate"}, "application/json")
    assert r.status_code == 400 and r.json()["field"] == "metric"
    assert set(thermal()) == set(ThermalLevel.values)
    listed = noc.get("/api/admin/v1/rules?site_id=SITE-X").json()["results"]
    assert sorted(x["thermal_level"] for x in listed) == ["critical", "throttle", "warning"]


def _forbidden(r):
    assert r.status_code == 403, r.content
    body = r.json()
    assert (body["success"], body["error_code"], body["message_zh"]) == (False, "FORBIDDEN", "无权访问该站点")
    return body


def test_another_site_a_missing_one_and_customers_are_403(as_user, noc, world, customer_a):
    y = world.site_y.pk
    other = _forbidden(noc.get("/api/thermal/config?site_id=SITE-Y"))
    missing = _forbidden(noc.get("/api/thermal/config?site_id=NOPE"))
    assert other == missing
    _forbidden(put(noc, CONFIG | {"site_id": "SITE-Y"}))
    _forbidden(put(noc, CONFIG, path=f"/hosting/api/thermal/config/{y}"))
    _forbidden(noc.post("/api/thermal/check", {"site_id": "SITE-Y"}, content_type="application/json"))
    _forbidden(noc.post(f"/hosting/api/thermal/check/{y}"))
    _forbidden(noc.get(f"/hosting/api/thermal/events/{y}"))
    _forbidden(noc.get(f"/hosting/api/thermal/stats/{y}"))
    _forbidden(noc.get("/hosting/api/thermal/stats/2147480001"))
    assert Rule.objects.count() == 0
    customer = as_user(customer_a)
    _forbidden(customer.get("/api/thermal/config?site_id=SITE-X"))
    _forbidden(put(customer, CONFIG))
    _forbidden(customer.get(f"/hosting/api/thermal/events/{world.site_x.pk}"))
    assert Rule.objects.count() == 0


def test_anonymous_is_401_and_a_missing_site_id_is_400(client, noc, world):
    missing = noc.get("/api/thermal/config")
    assert missing.status_code == 400 and missing.json()["field"] == "site_id"
    client.logout()
    r = client.get("/api/thermal/config?site_id=SITE-X")
    assert r.status_code in (401, 403) and r.json()["error_code"] == "UNAUTHENTICATED"


def test_the_events_page_reads_in_a_fixed_number_of_queries(noc, farm, world):  # noqa: F811
    put(noc, CONFIG)
    path = f"/hosting/api/thermal/events/{world.site_x.pk}"

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert noc.get(path).status_code == 200
        return len(ctx.captured_queries)

    farm.upload(0, {world.miners_a_x[0]: 85})
    noc.post(path.replace("events", "check"))
    few = queries()
    farm.upload(1, dict.fromkeys([*world.miners_a_x, *world.miners_b_x], 95))
    noc.post(path.replace("events", "check"))
    assert len(noc.get(path).json()["events"]) > 10
    assert queries() == few


@pytest.mark.django_db(transaction=True)
def test_two_puts_at_once_make_one_rule_set(world, noc_x):
    barrier, errors = threading.Barrier(2), []

    def one_put(temp):
        try:
            barrier.wait()
            thermal_config_apply(actor=Actor.user(noc_x), user=noc_x, site=world.site_x, changes={"warning_temp": temp})
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one_put, args=(t,)) for t in (71, 73)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rules = thermal()
    assert set(rules) == set(ThermalLevel.values) and Rule.objects.count() == 3
    assert rules["warning"].version == 2 and rules["warning"].threshold in (71, 73)  # created, then the other PUT


def test_a_rule_already_named_like_a_thermal_rule_is_400_on_name(noc, world):
    fields = {"metric": "temp_max", "op": "gt", "threshold": 99}
    rule_create(actor=OPS, user=None, site=world.site_x, name="thermal: throttle", **fields)
    r = put(noc, CONFIG | {"color": "red"})  # an unknown key is ignored, the name clash is not
    assert r.status_code == 400, r.content
    assert (r.json()["error_code"], r.json()["field"], r.json()["message_zh"]) == (
        "INVALID_RULE",
        "name",
        "热保护规则无效",
    )
    assert Rule.objects.count() == 1  # nothing of the three was kept
