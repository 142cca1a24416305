"""RULES_STALE_WORK_ORDER_MIN: a miner_stale alert open that long gets one work order, linked to
it, opened once however many passes follow; 0 (the default) opens none."""

import datetime as dt

import pytest

from audit.models import AuditEvent
from hosting.models import Alert, WorkOrder, WorkOrderSource
from rules.services.definitions import rule_create
from rules.services.evaluation import rules_evaluate
from rules.tests.test_evaluation import OPS, at, farm  # noqa: F401 — the farm fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def stale_miner(farm, world):  # noqa: F811
    fields = {"name": "hot", "metric": "temp_max", "op": "gt", "threshold": 85, "command_type": "set_fan"}
    rule_create(actor=OPS, user=None, site=world.site_x, params={"speed": 100}, **fields)
    miner = world.miners_a_x[0]
    farm.upload(0, {miner: 95})
    return miner


def minutes(n: float) -> dt.datetime:
    return at(0) + dt.timedelta(minutes=n)


def test_a_stale_alert_open_n_minutes_gets_one_work_order(settings, stale_miner):
    settings.RULES_STALE_WORK_ORDER_MIN = 15
    assert rules_evaluate(now=minutes(10)).stale_alerts == 1  # the alert fires at minute 10
    assert rules_evaluate(now=minutes(20)).stale_work_orders == 0  # open 10 minutes
    report = rules_evaluate(now=minutes(26))
    assert report.stale_work_orders == 1 and "1 work order(s) opened" in report.lines()[0]
    assert rules_evaluate(now=minutes(30)).stale_work_orders == 0
    work_order = WorkOrder.objects.get()
    alert = Alert.objects.get(kind="miner_stale")
    assert (work_order.alert_id, work_order.miner_id, work_order.source) == (
        alert.pk,
        stale_miner.pk,
        WorkOrderSource.ALERT,
    )
    assert work_order.tenant_id == stale_miner.tenant_id and "no data for 15+ min" in work_order.title
    assert AuditEvent.objects.filter(action="hosting.work_order.created").count() == 1


def test_zero_opens_none(stale_miner):
    rules_evaluate(now=minutes(10))
    assert rules_evaluate(now=minutes(600)).stale_work_orders == 0 and WorkOrder.objects.count() == 0


def test_a_dry_run_opens_none(settings, stale_miner):
    settings.RULES_STALE_WORK_ORDER_MIN = 1
    rules_evaluate(now=minutes(10))
    assert rules_evaluate(now=minutes(20), dry_run=True).stale_work_orders == 0
    assert WorkOrder.objects.count() == 0
