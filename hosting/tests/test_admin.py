"""The NOC console for hosting: scoped changelists, and every write through an action or add form
that calls a hosting service (so it is audited)."""

import datetime as dt

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from hosting.models import Alert, DowntimeInterval, MaintenanceWindow, WorkOrder, WorkOrderComment
from hosting.services.alerts import alert_raise
from hosting.services.maintenance import maintenance_window_create
from hosting.services.work_orders import work_order_create

pytestmark = pytest.mark.django_db


def url(model, view="changelist", *args):
    return reverse(f"admin:hosting_{model}_{view}", args=args)


def act(client, model, action, rows, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [r.pk for r in rows], **extra}
    return client.post(url(model), data)


@pytest.fixture
def orders(world, noc_x, noc_y):
    return {
        "x": work_order_create(actor=None, user=noc_x, site=world.site_x, miner=world.miners_a_x[0], title="X fan"),
        "y": work_order_create(actor=None, user=noc_y, site=world.site_y, miner=world.miners_b_y[0], title="Y psu"),
    }


def test_the_work_order_list_is_scoped_and_customers_never_get_in(
    as_user, noc_x, customer_a, orders, django_assert_max_num_queries
):
    client = as_user(noc_x)
    client.get(url("workorder"))
    with django_assert_max_num_queries(8):
        html = client.get(url("workorder")).content.decode()
    assert "X fan" in html and "Y psu" not in html
    assert client.get(url("workorder", "change", orders["y"].pk)).status_code == 403
    page = client.get(url("workorder", "change", orders["x"].pk))
    assert page.status_code == 200 and "History" in page.content.decode()
    customer = as_user(customer_a)
    assert customer.get(url("workorder")).status_code == 403


def test_a_transition_action_asks_for_a_reason_then_calls_the_service(as_user, noc_x, orders):
    client = as_user(noc_x)
    r = act(client, "workorder", "to_in_progress", [orders["x"], orders["y"]])
    assert r.status_code == 200 and b"Start work" in r.content
    act(client, "workorder", "to_in_progress", [orders["x"], orders["y"]], apply="1", reason="on site now")
    assert WorkOrder.objects.get(pk=orders["x"].pk).status == "in_progress"
    assert WorkOrder.objects.get(pk=orders["y"].pk).status == "open"  # another site's: not touched
    ev = AuditEvent.objects.get(action="hosting.work_order.in_progress")
    assert (ev.actor_id, ev.payload["reason"]) == (str(noc_x.pk), "on site now")
    r = act(client, "workorder", "to_waiting_customer", [orders["x"]], apply="1", reason="")
    act(client, "workorder", "to_closed", [orders["x"]], apply="1", reason="")  # waiting → closed: refused
    assert WorkOrder.objects.get(pk=orders["x"].pk).status == "waiting_customer"


def test_comment_and_assign_actions(as_user, noc_x, orders):
    client = as_user(noc_x)
    act(client, "workorder", "comment", [orders["x"]], apply="1", body="Visible to the customer", public="on")
    assert WorkOrderComment.objects.get(work_order=orders["x"]).public is True
    act(client, "workorder", "assign", [orders["x"]], apply="1", assignee=noc_x.pk)
    assert WorkOrder.objects.get(pk=orders["x"].pk).assignee == noc_x
    assert (
        AuditEvent.objects.filter(action__in=["hosting.work_order.commented", "hosting.work_order.assigned"]).count()
        == 2
    )


def test_the_add_form_creates_through_the_service(as_user, world, noc_x):
    client = as_user(noc_x)
    r = client.post(
        url("workorder", "add"),
        {"site": world.site_x.pk, "miner": world.miners_a_x[2].pk, "title": "From the console", "priority": "urgent"},
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    wo = WorkOrder.objects.get(title="From the console")
    assert (wo.created_by, wo.tenant_id, wo.status) == (noc_x, world.tenant_a.pk, "open")
    assert AuditEvent.objects.filter(action="hosting.work_order.created", entity_id=str(wo.pk)).exists()
    r = client.post(url("workorder", "add"), {"site": world.site_y.pk, "title": "Elsewhere", "priority": "low"})
    assert r.status_code == 200 and not WorkOrder.objects.filter(title="Elsewhere").exists()


def test_alert_actions_acknowledge_resolve_and_open_a_work_order(as_user, world, noc_x, noc_y):
    a = alert_raise(site=world.site_x, miner=world.miners_a_x[0], kind="overheat", title="hot")
    y = alert_raise(site=world.site_y, kind="power", title="Y power")
    client = as_user(noc_x)
    html = client.get(url("alert")).content.decode()
    assert "hot" in html and "Y power" not in html
    act(client, "alert", "acknowledge", [a, y], apply="1", reason="mine")
    assert [Alert.objects.get(pk=p).state for p in (a.pk, y.pk)] == ["acknowledged", "firing"]
    act(client, "alert", "open_work_order", [a], apply="1", reason="Replace fan")
    assert WorkOrder.objects.get(alert=a).title == "Replace fan"
    act(client, "alert", "resolve", [a], apply="1", reason="")
    assert Alert.objects.get(pk=a.pk).state == "resolved"
    assert client.get(url("alert", "add")).status_code == 403


def test_windows_are_created_and_canceled_through_the_service(as_user, world, noc_x):
    client = as_user(noc_x)
    start = timezone.localtime(timezone.now() + dt.timedelta(hours=2))
    form = {
        "site": world.site_x.pk,
        "zone": world.zone_x1.pk,
        "reason": "Breaker test",
        "starts_at_0": start.strftime("%Y-%m-%d"),
        "starts_at_1": start.strftime("%H:%M:%S"),
        "ends_at_0": start.strftime("%Y-%m-%d"),
        "ends_at_1": (start + dt.timedelta(minutes=30)).strftime("%H:%M:%S"),
        "weekdays": "",
        "timezone": "UTC",
    }
    if (start + dt.timedelta(minutes=30)).date() != start.date():
        form["ends_at_0"] = (start + dt.timedelta(minutes=30)).strftime("%Y-%m-%d")
    r = client.post(url("maintenancewindow", "add"), form)
    assert r.status_code == 302, r.content.decode()[:3000]
    w = MaintenanceWindow.objects.get(reason="Breaker test")
    assert (w.owner, w.zone) == (noc_x, world.zone_x1)
    r = client.post(url("maintenancewindow", "add"), {**form, "reason": "bad tz", "timezone": "Nowhere/Land"})
    assert r.status_code == 200 and "unknown time zone" in r.content.decode()
    act(client, "maintenancewindow", "cancel", [w], apply="1", reason="postponed")
    assert MaintenanceWindow.objects.get(pk=w.pk).canceled_at is not None
    assert AuditEvent.objects.filter(entity_type="hosting.maintenancewindow").count() == 2


def test_another_sites_window_is_not_listed_or_canceled(as_user, world, noc_x, noc_y):
    start = timezone.now() + dt.timedelta(hours=1)
    w = maintenance_window_create(
        actor=None,
        user=noc_y,
        site=world.site_y,
        reason="Y only",
        starts_at=start,
        ends_at=start + dt.timedelta(hours=1),
    )
    client = as_user(noc_x)
    assert "Y only" not in client.get(url("maintenancewindow")).content.decode()
    act(client, "maintenancewindow", "cancel", [w], apply="1", reason="not mine")
    assert MaintenanceWindow.objects.get(pk=w.pk).canceled_at is None


def test_downtime_intervals_are_read_only_and_scoped(as_user, world, noc_x, noc_y):
    now = timezone.now()
    DowntimeInterval.objects.create(
        miner=world.miners_a_x[0], tenant=world.tenant_a, site=world.site_x, cause="offline", started_at=now
    )
    assert world.miners_a_x[0].miner_id in as_user(noc_x).get(url("downtimeinterval")).content.decode()
    assert world.miners_a_x[0].miner_id not in as_user(noc_y).get(url("downtimeinterval")).content.decode()
    assert as_user(noc_x).get(url("downtimeinterval", "add")).status_code == 403
