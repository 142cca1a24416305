"""Work order reads, scoped (SPEC §2, §9): a platform user sees all; an operator the orders of the
miners they see, and site-wide orders of their sites; a customer the orders of their tenants (the
owner when the order was opened), with public comments and status changes only."""

from django.db.models import F, QuerySet

from hosting.models import WorkOrder, WorkOrderComment, WorkOrderEvent
from tenants import scoping
from tenants.scoping import Capability

LIST_RELATED = ("site", "miner", "tenant", "assignee", "created_by")


def work_orders_for(user, capability: str = Capability.VIEW) -> QuerySet[WorkOrder]:
    scope = scoping.scope_for(user)
    qs = WorkOrder.objects.all()
    if scope.is_platform:
        return qs
    if scope.is_operator:
        return qs.filter(scoping.miner_or_site_q(user, capability))
    if scope.has_customer_side and capability == Capability.VIEW:
        return qs.filter(scope.customer_miner_q(tenant_field="tenant_id", miner_field="miner_id"))
    return qs.none()


def work_order_list(user, *, status: str | None = None, site=None, miner=None) -> QuerySet[WorkOrder]:
    qs = work_orders_for(user).select_related(*LIST_RELATED)
    if status:
        qs = qs.filter(status=status)
    if site is not None:
        qs = qs.filter(site=site)
    if miner is not None:
        qs = qs.filter(miner=miner)
    return qs.order_by("-created_at", "-id")


def work_order_get(user, pk) -> WorkOrder:
    """The order if the user may see it; 403 FORBIDDEN otherwise (existing or not)."""
    return scoping.object_get(work_orders_for(user).select_related(*LIST_RELATED), pk)


def _customer_view(user, as_customer: bool) -> bool:
    return as_customer or not scoping.scope_for(user).is_operator


def work_order_comments(user, work_order: WorkOrder, *, as_customer: bool = False) -> QuerySet[WorkOrderComment]:
    """Every comment for operators; public ones for customers (and for the portal's operator view,
    `as_customer`, which shows what the customer sees)."""
    qs = WorkOrderComment.objects.filter(work_order=work_order).select_related("author")
    return qs.filter(public=True) if _customer_view(user, as_customer) else qs


def work_order_history(user, work_order: WorkOrder, *, as_customer: bool = False) -> QuerySet[WorkOrderEvent]:
    """Every write for operators; for customers the status changes (creation included)."""
    qs = WorkOrderEvent.objects.filter(work_order=work_order)
    return qs.exclude(from_status=F("to_status")) if _customer_view(user, as_customer) else qs
