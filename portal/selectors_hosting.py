"""The portal's hosting reads (SPEC §10): a tenant's work orders and its event stream — alerts,
work orders, maintenance windows and commands that touched the tenant's miners — built on hosting's
and control's scoped selectors, narrowed to the portal's tenant. The portal shows what the customer
sees, also to an operator looking in (public comments, status changes)."""

from django.db.models import Case, CharField, F, Q, QuerySet, Value, When

from control.selectors import commands_for
from core.errors import Forbidden
from hosting.models import WorkOrder
from hosting.selectors.alerts import alerts_for
from hosting.selectors.maintenance import maintenance_windows_for
from hosting.selectors.work_orders import LIST_RELATED, work_order_comments, work_order_history, work_orders_for
from hosting.services.alerts import COLLECTOR_DARK
from portal.selectors import PortalView
from tenants.scoping import FORBIDDEN_MESSAGE

EVENT_KINDS = {"alert": "Alerts", "work_order": "Work orders", "maintenance": "Maintenance", "command": "Commands"}


def portal_work_orders(user, view: PortalView) -> QuerySet[WorkOrder]:
    """The tenant's work orders (the owner when each was opened), newest first."""
    return work_orders_for(user).filter(tenant=view.tenant).select_related(*LIST_RELATED).order_by("-created_at", "-id")


def portal_work_order_get(user, view: PortalView, pk: int) -> dict:
    """One of the tenant's orders with its public comments and status history; 403 otherwise."""
    work_order = portal_work_orders(user, view).filter(pk=pk).first()
    if work_order is None:
        raise Forbidden(FORBIDDEN_MESSAGE)
    return {
        "work_order": work_order,
        "comments": list(work_order_comments(user, work_order, as_customer=True)),
        "history": list(work_order_history(user, work_order, as_customer=True)),
    }


def _columns(kind: str, *, at, title, status, miner, site="site__code") -> dict:
    # Every branch of the UNION names the same columns in the same order (prefixed: no clash with
    # the models' own kind / title / status).
    return {
        "ev_kind": Value(kind, output_field=CharField()),
        "ev_id": F("pk"),
        "ev_at": F(at) if isinstance(at, str) else at,
        "ev_title": F(title) if isinstance(title, str) else title,
        "ev_status": F(status) if isinstance(status, str) else status,
        "ev_site": F(site),
        "ev_miner": F(miner),
    }


def _values(qs, columns: dict) -> QuerySet:
    return qs.order_by().annotate(**columns).values(*columns)


def portal_events(user, view: PortalView, *, kind: str = "") -> QuerySet:
    """Rows {ev_kind, ev_id, ev_at, ev_title, ev_status, ev_site, ev_miner}, newest first, of one kind or all."""
    mine = view.miners(user)
    parts = []
    if kind in ("", "alert"):
        alerts = alerts_for(user).filter(
            Q(tenant=view.tenant) | Q(miner__isnull=True, kind=COLLECTOR_DARK, site__in=mine.values("site"))
        )
        parts.append(
            _values(alerts, _columns("alert", at="fired_at", title="title", status="state", miner="miner__miner_id"))
        )
    if kind in ("", "work_order"):
        orders = work_orders_for(user).filter(tenant=view.tenant)
        parts.append(
            _values(
                orders, _columns("work_order", at="created_at", title="title", status="status", miner="miner__miner_id")
            )
        )
    if kind in ("", "maintenance"):
        windows = maintenance_windows_for(user).filter(
            Q(miner__in=mine)
            | Q(miner__isnull=True, zone__in=mine.values("zone"))
            | Q(miner__isnull=True, zone__isnull=True, site__in=mine.values("site"))
        )
        status = Case(
            When(canceled_at__isnull=False, then=Value("canceled")),
            When(ends_at__isnull=True, then=Value("weekly")),
            default=Value("one-off"),
            output_field=CharField(),
        )
        parts.append(
            _values(
                windows,
                _columns(
                    "maintenance",
                    at=F("starts_at"),
                    title="reason",
                    status=status,
                    miner="miner__miner_id",
                ),
            )
        )
    if kind in ("", "command"):
        commands = commands_for(user).filter(tenant=view.tenant)
        parts.append(
            _values(
                commands,
                _columns("command", at="created_at", title="command_type", status="state", miner="miner__miner_id"),
            )
        )
    first, *rest = parts
    qs = first.union(*rest, all=True) if rest else first
    return qs.order_by("-ev_at", "-ev_id")
