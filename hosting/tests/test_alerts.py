"""Alerts through hosting.services.alerts: dedupe in the database, the state machine, audit, and the
collector-dark job with an explicit `now`."""

import datetime as dt

import pytest
from django.conf import settings

from audit.models import AuditEvent
from control.errors import InvalidTransition
from core.errors import Forbidden, InvalidParameter
from hosting.models import Alert, AlertSeverity, AlertSource, AlertState
from hosting.services.alerts import (
    COLLECTOR_DARK,
    AlertDraft,
    alert_acknowledge,
    alert_raise,
    alert_raise_many,
    alert_resolve,
    collectors_dark_scan,
)
from hosting.tasks import collectors_dark_task
from telemetry.models import IngestBatch
from tests.factories import CollectorFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
STALE = dt.timedelta(seconds=settings.TELEMETRY_STALE_SEC)


def upload(collector, at):
    IngestBatch.objects.create(
        site=collector.site,
        collector=collector,
        token_prefix="t",
        endpoint="v1",
        body_format="list",
        received_at=at,
        body_sha256=f"{at.timestamp():064.0f}",
        body_bytes=1,
        record_count=1,
        accepted=1,
        rejected=0,
        duplicates=0,
    )


def test_raising_a_live_key_again_returns_the_same_row_and_audits_once(world):
    first = alert_raise(site=world.site_x, miner=world.miners_a_x[0], kind="overheat", title="92 °C", now=T0)
    again = alert_raise(site=world.site_x, miner=world.miners_a_x[0], kind="overheat", title="93 °C")
    assert (first.raised, again.raised, again.pk, again.title) == (True, False, first.pk, "92 °C")
    assert first.dedupe_key == f"overheat:SITE-X:{world.miners_a_x[0].miner_id}"
    assert (first.tenant_id, first.fired_at, first.state) == (world.tenant_a.pk, T0, AlertState.FIRING)
    assert AuditEvent.objects.filter(action="hosting.alert.raised").count() == 1
    assert AuditEvent.objects.get(action="hosting.alert.raised").chain_key == f"tenant:{world.tenant_a.pk}"


def test_raising_many_at_once_is_raising_each_alone(world):
    a0, a1, b0 = world.miners_a_x[0], world.miners_a_x[1], world.miners_b_x[0]
    live = alert_raise(site=world.site_x, miner=a0, kind="overheat", title="92 °C", now=T0)
    gone = alert_raise(site=world.site_x, miner=a1, kind="overheat", title="old", now=T0)
    alert_resolve(actor=None, alert=gone)
    before = AuditEvent.objects.filter(action="hosting.alert.raised").count()
    drafts = [
        AlertDraft(kind="overheat", title="95 °C", miner=a0),  # live: returned unchanged
        AlertDraft(kind="overheat", title="94 °C", miner=a1),  # resolved: a new one
        AlertDraft(kind="overheat", title="91 °C", miner=b0, severity=AlertSeverity.CRITICAL, details={"v": 91}),
        AlertDraft(kind="overheat", title="again", miner=b0),  # same key twice in one call: one alert
    ]
    got = alert_raise_many(site=world.site_x, drafts=drafts, source=AlertSource.RULE, now=T0 + STALE)
    assert [a.raised for a in got] == [False, True, True, True]
    assert got[0].pk == live.pk and got[0].title == "92 °C" and got[1].pk != gone.pk and got[2].pk == got[3].pk
    assert (got[2].tenant_id, got[2].severity, got[2].details, got[2].fired_at) == (
        world.tenant_b.pk,
        AlertSeverity.CRITICAL,
        {"v": 91},
        T0 + STALE,
    )
    events = AuditEvent.objects.filter(action="hosting.alert.raised").order_by("pk")[before:]
    assert [(e.entity_id, e.chain_key) for e in events] == [
        (str(got[1].pk), f"tenant:{world.tenant_a.pk}"),
        (str(got[2].pk), f"tenant:{world.tenant_b.pk}"),
    ]
    with pytest.raises(InvalidParameter) as exc:
        alert_raise_many(site=world.site_x, drafts=[AlertDraft(kind="x", title="t", miner=world.miners_b_y[0])])
    assert exc.value.extra["field"] == "miner_id"


def test_a_resolved_key_raises_a_new_alert(world):
    first = alert_raise(site=world.site_x, kind="power", title="PDU 3", source=AlertSource.OPERATOR)
    alert_resolve(actor=None, alert=first)
    second = alert_raise(site=world.site_x, kind="power", title="PDU 3 again")
    assert second.raised and second.pk != first.pk
    assert Alert.objects.filter(dedupe_key=first.dedupe_key).count() == 2


def test_a_site_alert_has_no_tenant_and_goes_to_the_site_chain(world):
    alert = alert_raise(site=world.site_x, kind="power", title="PDU 3", severity=AlertSeverity.CRITICAL)
    assert (alert.tenant_id, alert.miner_id, alert.severity) == (None, None, "critical")
    assert AuditEvent.objects.get(action="hosting.alert.raised").chain_key == "site:SITE-X"


def test_rule_alerts_get_their_rule_in_the_key(world):
    a = alert_raise(site=world.site_x, kind="custom", title="r1", rule_id=7, source=AlertSource.RULE)
    b = alert_raise(site=world.site_x, kind="custom", title="r2", rule_id=8, source=AlertSource.RULE)
    assert a.pk != b.pk and a.dedupe_key.endswith(":rule:7")


def test_bad_severity_source_and_foreign_miner_are_400s(world):
    for kw, field in (
        ({"severity": "fatal"}, "severity"),
        ({"source": "oracle"}, "source"),
        ({"miner": None, "kind": ""}, "kind"),
    ):
        with pytest.raises(InvalidParameter) as exc:
            alert_raise(site=world.site_x, **{"kind": "k", "title": "t", **kw})
        assert exc.value.extra["field"] == field
    with pytest.raises(InvalidParameter):
        alert_raise(site=world.site_x, miner=world.miners_b_y[0], kind="k", title="t")


def test_acknowledge_then_resolve_and_nothing_after(world, noc_x):
    alert = alert_raise(site=world.site_x, kind="power", title="PDU 3")
    alert = alert_acknowledge(actor=None, user=noc_x, alert=alert, reason="on it", now=T0)
    assert (alert.state, alert.acknowledged_by, alert.acknowledged_at) == ("acknowledged", noc_x, T0)
    with pytest.raises(InvalidTransition):
        alert_acknowledge(actor=None, user=noc_x, alert=alert)
    alert = alert_resolve(actor=None, user=noc_x, alert=alert, reason="breaker reset")
    assert alert.state == "resolved" and alert.resolved_at is not None
    for move in (alert_acknowledge, alert_resolve):
        with pytest.raises(InvalidTransition):
            move(actor=None, user=noc_x, alert=alert)
    actions = list(AuditEvent.objects.filter(entity_type="hosting.alert").values_list("action", flat=True))
    assert actions == ["hosting.alert.raised", "hosting.alert.acknowledged", "hosting.alert.resolved"]


def test_an_operator_of_another_site_and_a_customer_cannot_move_an_alert(world, noc_y, customer_a):
    alert = alert_raise(site=world.site_x, miner=world.miners_a_x[0], kind="overheat", title="hot")
    for outsider in (noc_y, customer_a):
        with pytest.raises(Forbidden):
            alert_acknowledge(actor=None, user=outsider, alert=alert)
        with pytest.raises(Forbidden):
            alert_raise(user=outsider, site=world.site_x, kind="x", title="x", source=AlertSource.OPERATOR)
    assert Alert.objects.get(pk=alert.pk).state == AlertState.FIRING


# --- the collector-dark job ------------------------------------------------------------------------


def test_a_dark_collector_raises_one_site_alert_not_one_per_miner_and_resolves_on_resume(world):
    upload(world.collector_x, T0)
    upload(world.collector_y, T0)
    assert collectors_dark_scan(now=T0 + STALE)["raised"] == 0  # exactly at the threshold: not yet dark
    upload(world.collector_y, T0 + dt.timedelta(minutes=20))
    got = collectors_dark_scan(now=T0 + dt.timedelta(minutes=21))
    assert (got["raised"], got["resolved"]) == (1, 0)
    alert = Alert.objects.get(kind=COLLECTOR_DARK)
    assert (alert.site, alert.miner_id, alert.tenant_id, alert.severity) == (world.site_x, None, None, "critical")
    assert alert.fired_at == T0 + STALE  # dark since the last upload went stale
    assert alert.details["last_upload"] == T0.isoformat()
    # the next runs while it stays dark change nothing
    upload(world.collector_y, T0 + dt.timedelta(minutes=29))
    assert collectors_dark_scan(now=T0 + dt.timedelta(minutes=30))["raised"] == 0
    assert Alert.objects.filter(kind=COLLECTOR_DARK).count() == 1
    upload(world.collector_x, T0 + dt.timedelta(minutes=31))
    upload(world.collector_y, T0 + dt.timedelta(minutes=31))
    assert collectors_dark_scan(now=T0 + dt.timedelta(minutes=32))["resolved"] == 1
    alert.refresh_from_db()
    assert (alert.state, alert.resolved_at) == (AlertState.RESOLVED, T0 + dt.timedelta(minutes=32))
    ev = AuditEvent.objects.filter(entity_id=str(alert.pk)).order_by("seq").last()
    assert (ev.action, ev.actor_id, ev.chain_key) == (
        "hosting.alert.resolved",
        "hosting.collectors_dark",
        "site:SITE-X",
    )


def test_a_collector_dark_again_later_raises_a_new_alert(world):
    upload(world.collector_x, T0)
    collectors_dark_scan(now=T0 + dt.timedelta(minutes=10))
    upload(world.collector_x, T0 + dt.timedelta(minutes=11))
    collectors_dark_scan(now=T0 + dt.timedelta(minutes=12))
    collectors_dark_scan(now=T0 + dt.timedelta(minutes=30))
    states = list(Alert.objects.filter(kind=COLLECTOR_DARK).order_by("pk").values_list("state", flat=True))
    assert states == ["resolved", "firing"]


def test_a_collector_that_never_uploaded_or_was_retired_is_not_dark(world):
    upload(world.collector_x, T0)
    collectors_dark_scan(now=T0 + dt.timedelta(minutes=10))  # collector_y never uploaded
    assert list(Alert.objects.values_list("details__collector", flat=True)) == [world.collector_x.pk]
    world.collector_x.is_active = False
    world.collector_x.save()
    assert collectors_dark_scan(now=T0 + dt.timedelta(minutes=11))["resolved"] == 1


def test_two_dark_zone_collectors_of_one_site_are_two_alerts(world):
    zone_collector = CollectorFactory(site=world.site_x, zone=world.zone_x1, name="edge-x1")
    upload(world.collector_x, T0)
    upload(zone_collector, T0)
    assert collectors_dark_scan(now=T0 + dt.timedelta(minutes=10))["raised"] == 2


def test_the_beat_job_is_declared_and_runs_the_scan(world, clock):
    assert settings.CELERY_BEAT_SCHEDULE["hosting.collectors_dark"]["task"] == "hosting.collectors_dark"
    from django.utils import timezone

    upload(world.collector_x, timezone.now() - dt.timedelta(hours=1))
    assert collectors_dark_task() == {
        "collectors": 2,
        "raised": 1,
        "resolved": 0,
        "registration_capped": {"sites": 0, "raised": 0},
    }
