"""Work orders through hosting.services.work_orders: the one transition table, comments, assignment,
and the audit event plus history row every write leaves."""

import pytest

from audit.models import AuditEvent
from audit.services import Actor
from conftest import grant
from control.errors import InvalidTransition
from core.errors import Forbidden, InvalidParameter
from hosting.models import WORK_ORDER_TRANSITIONS, WorkOrder, WorkOrderEvent, WorkOrderSource, WorkOrderStatus
from hosting.services.alerts import alert_raise
from hosting.services.work_orders import (
    work_order_assign,
    work_order_comment,
    work_order_create,
    work_order_transition,
)
from tenants.models import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
S = WorkOrderStatus


@pytest.fixture
def tech_x(world):
    return grant(UserFactory(username="tech-x"), Role.TECHNICIAN, site=world.site_x)


def _order(world, user, **kw):
    return work_order_create(
        actor=None, user=user, site=world.site_x, miner=world.miners_a_x[0], title="Fan noise", **kw
    )


def test_a_technician_creates_an_order_for_the_miners_tenant_audited_with_history(world, tech_x):
    wo = _order(world, tech_x, description="rack 4")
    assert (wo.status, wo.source, wo.tenant_id, wo.created_by) == (
        S.OPEN,
        WorkOrderSource.TECHNICIAN,
        world.tenant_a.pk,
        tech_x,
    )
    ev = AuditEvent.objects.get(action="hosting.work_order.created", entity_id=str(wo.pk))
    assert (ev.chain_key, ev.actor_id, ev.payload["to"]) == (f"tenant:{world.tenant_a.pk}", str(tech_x.pk), "open")
    assert list(WorkOrderEvent.objects.filter(work_order=wo).values_list("from_status", "to_status")) == [("", "open")]


def test_an_operator_creates_one_from_an_alert_and_the_system_one_without_a_person(world, noc_x):
    alert = alert_raise(site=world.site_x, miner=world.miners_b_x[0], kind="overheat", title="hot")
    wo = work_order_create(actor=None, user=noc_x, alert=alert, title="Check cooling")
    assert (wo.source, wo.site, wo.miner, wo.tenant_id, wo.alert) == (
        WorkOrderSource.ALERT,
        world.site_x,
        world.miners_b_x[0],
        world.tenant_b.pk,
        alert,
    )
    system = work_order_create(actor=None, site=world.site_x, title="Quarterly dust-off")
    assert (system.source, system.tenant_id, system.created_by) == (WorkOrderSource.SYSTEM, None, None)
    ev = AuditEvent.objects.get(action="hosting.work_order.created", entity_id=str(system.pk))
    assert (ev.actor_type, ev.actor_id, ev.chain_key) == ("system", "hosting.work_orders", "site:SITE-X")


def test_every_transition_of_the_table_is_allowed_and_every_other_one_refused(world, noc_x):
    statuses = list(S)
    for frm in statuses:
        for to in statuses:
            wo = _order(world, noc_x)
            WorkOrder.objects.filter(pk=wo.pk).update(status=frm)
            if to in WORK_ORDER_TRANSITIONS[frm]:
                assert work_order_transition(actor=None, user=noc_x, work_order=wo, to=to).status == to
            else:
                with pytest.raises(InvalidTransition) as exc:
                    work_order_transition(actor=None, user=noc_x, work_order=wo, to=to)
                assert exc.value.error_code == "INVALID_TRANSITION"
                assert WorkOrder.objects.get(pk=wo.pk).status == frm


def test_the_full_path_records_history_timestamps_and_one_audit_event_per_step(world, noc_x):
    wo = _order(world, noc_x)
    for to in (S.IN_PROGRESS, S.WAITING_CUSTOMER, S.RESOLVED, S.IN_PROGRESS, S.RESOLVED, S.CLOSED):
        wo = work_order_transition(actor=None, user=noc_x, work_order=wo, to=to, reason=f"to {to}")
    assert wo.resolved_at is not None and wo.closed_at is not None
    history = list(WorkOrderEvent.objects.filter(work_order=wo).values_list("from_status", "to_status"))
    assert history == [
        ("", "open"),
        ("open", "in_progress"),
        ("in_progress", "waiting_customer"),
        ("waiting_customer", "resolved"),
        ("resolved", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "closed"),
    ]
    actions = list(
        AuditEvent.objects.filter(entity_id=str(wo.pk), entity_type="hosting.workorder").values_list(
            "action", flat=True
        )
    )
    assert len(actions) == 7 and actions[-1] == "hosting.work_order.closed"


def test_a_closed_order_takes_no_comment_and_no_assignment(world, noc_x):
    wo = _order(world, noc_x)
    work_order_transition(actor=None, user=noc_x, work_order=wo, to=S.CLOSED)
    with pytest.raises(InvalidTransition):
        work_order_comment(actor=None, user=noc_x, work_order=wo, body="late")
    with pytest.raises(InvalidTransition):
        work_order_assign(actor=None, user=noc_x, work_order=wo, assignee=noc_x)


def test_an_internal_comment_body_stays_out_of_the_tenants_audit_chain(world, noc_x):
    wo = _order(world, noc_x)
    internal = work_order_comment(actor=None, user=noc_x, work_order=wo, body="customer PSU is junk")
    public = work_order_comment(actor=None, user=noc_x, work_order=wo, body="Replacing the PSU", public=True)
    assert (internal.public, public.public) == (False, True)
    events = {e.payload["comment"]: e for e in AuditEvent.objects.filter(action="hosting.work_order.commented")}
    assert "body" not in events[internal.pk].payload and len(events[internal.pk].payload["sha256"]) == 64
    assert events[public.pk].payload["body"] == "Replacing the PSU"
    reasons = list(WorkOrderEvent.objects.filter(work_order=wo).values_list("reason", flat=True))
    assert reasons == ["created", "internal comment", "public comment"]


def test_an_empty_comment_or_title_is_a_400_with_its_field(world, noc_x):
    with pytest.raises(InvalidParameter) as exc:
        work_order_create(actor=None, user=noc_x, site=world.site_x, title="  ")
    assert (exc.value.error_code, exc.value.extra["field"]) == ("INVALID_PARAMETER", "title")
    wo = _order(world, noc_x)
    with pytest.raises(InvalidParameter) as exc:
        work_order_comment(actor=None, user=noc_x, work_order=wo, body="")
    assert exc.value.extra["field"] == "body"


def test_assignment_needs_an_assignee_who_can_act_at_the_site(world, noc_x, noc_y, tech_x):
    wo = _order(world, noc_x)
    assert work_order_assign(actor=None, user=noc_x, work_order=wo, assignee=tech_x).assignee == tech_x
    with pytest.raises(InvalidParameter):
        work_order_assign(actor=None, user=noc_x, work_order=wo, assignee=noc_y)
    ev = AuditEvent.objects.get(action="hosting.work_order.assigned")
    assert ev.payload["to"] == tech_x.pk
    assert WorkOrderEvent.objects.filter(work_order=wo, reason="assigned to tech-x").count() == 1


def test_an_operator_of_another_site_and_a_customer_cannot_touch_an_order(world, noc_x, noc_y, customer_a):
    wo = _order(world, noc_x)
    for outsider in (noc_y, customer_a):
        with pytest.raises(Forbidden):
            work_order_transition(actor=None, user=outsider, work_order=wo, to=S.IN_PROGRESS)
        with pytest.raises(Forbidden):
            work_order_comment(actor=None, user=outsider, work_order=wo, body="hi")
    with pytest.raises(Forbidden):
        work_order_create(actor=None, user=customer_a, site=world.site_x, title="Please fix")
    assert WorkOrder.objects.get(pk=wo.pk).status == S.OPEN
    assert not AuditEvent.objects.filter(actor_id__in=[str(noc_y.pk), str(customer_a.pk)]).exists()


def test_a_given_actor_is_the_one_audited(world, noc_x):
    wo = _order(world, noc_x)
    work_order_transition(actor=Actor.system("rules.engine"), work_order=wo, to=S.IN_PROGRESS)
    ev = AuditEvent.objects.get(action="hosting.work_order.in_progress")
    assert (ev.actor_type, ev.actor_id) == ("system", "rules.engine")
