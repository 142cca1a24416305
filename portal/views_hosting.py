"""The portal's hosting pages (SPEC §10): work orders (list, and one with its status history and
public comments) and the tenant's events. Read-only, through portal_page like every portal page."""

from django.core.paginator import Paginator

from hosting.models import WorkOrderStatus
from portal import selectors_hosting as hosting
from portal.views import PER_PAGE, portal_page


def _paging(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@portal_page("work_orders")
def work_orders(request, pv):
    status = request.GET.get("status", "")
    qs = hosting.portal_work_orders(request.user, pv)
    if status in WorkOrderStatus.values:
        qs = qs.filter(status=status)
    else:
        status = ""
    return {
        "page": Paginator(qs, PER_PAGE).get_page(request.GET.get("page")),
        "status": status,
        "statuses": WorkOrderStatus.choices,
        "paging_query": _paging(request),
    }


@portal_page("work_order")
def work_order(request, pv, pk: int):
    return hosting.portal_work_order_get(request.user, pv, pk)


@portal_page("events")
def events(request, pv):
    kind = request.GET.get("kind", "")
    if kind not in hosting.EVENT_KINDS:
        kind = ""
    qs = hosting.portal_events(request.user, pv, kind=kind)
    return {
        "page": Paginator(qs, PER_PAGE).get_page(request.GET.get("page")),
        "kind": kind,
        "kinds": list(hosting.EVENT_KINDS.items()),
        "paging_query": _paging(request),
    }
