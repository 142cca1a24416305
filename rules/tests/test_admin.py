"""Rules in the admin: a NOC of site X creates and edits a rule (each save a version, audited),
a bad clear threshold is a form error, site Y's rules are 403, and hits are listed read-only."""

import pytest

from audit.models import AuditEvent
from audit.services import Actor
from rules.models import Rule
from rules.services.definitions import rule_create

pytestmark = pytest.mark.django_db
FORM = {
    "name": "overheat",
    "enabled": "on",
    "metric": "temp_max",
    "op": "gt",
    "threshold": "85",
    "clear_threshold": "75",
    "consecutive_samples": "3",
    "min_duration_sec": "0",
    "stale_sec": "300",
    "cooldown_sec": "900",
    "daily_cap": "6",
    "command_type": "set_fan",
    "params": '{"speed": 100}',
    "recovery_command_type": "",
    "recovery_params": "{}",
    "priority_class": "40",
    "miners": "",
    "excluded_miners": "",
    "versions-TOTAL_FORMS": "0",
    "versions-INITIAL_FORMS": "0",
}


def test_a_noc_creates_and_edits_a_rule_in_the_admin(as_user, world, noc_x):
    client = as_user(noc_x)
    r = client.post("/admin/rules/rule/add/", FORM | {"site": world.site_x.pk})
    assert r.status_code == 302, r.content.decode()[-3000:]
    rule = Rule.objects.get()
    assert (rule.version, rule.priority_class, rule.params) == (1, 40, {"speed": 100})
    r = client.post(f"/admin/rules/rule/{rule.pk}/change/", FORM | {"threshold": "90"})
    assert r.status_code == 302
    rule.refresh_from_db()
    assert rule.version == 2 and rule.threshold == 90
    assert AuditEvent.objects.filter(entity_type="rules.rule", action="rules.rule.updated").count() == 1
    assert client.get(f"/admin/rules/rule/{rule.pk}/change/").status_code == 200


def test_a_bad_clear_threshold_is_a_form_error(as_user, world, noc_x):
    r = as_user(noc_x).post("/admin/rules/rule/add/", FORM | {"site": world.site_x.pk, "clear_threshold": "95"})
    assert r.status_code == 200
    assert "hysteresis" in r.content.decode()
    assert Rule.objects.count() == 0


def test_another_sites_rule_is_403_and_hits_are_listed(as_user, world, noc_x):
    y_rule = rule_create(
        actor=Actor.system("t"), user=None, site=world.site_y, name="y", metric="temp_max", op="gt", threshold=85
    )
    client = as_user(noc_x)
    assert client.get(f"/admin/rules/rule/{y_rule.pk}/change/").status_code == 403
    assert client.get("/admin/rules/rulehit/").status_code == 200
