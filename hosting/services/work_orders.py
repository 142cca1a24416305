"""Work orders (SPEC §9): created by a technician or an operator, from an alert, or by the system;
moved only through WORK_ORDER_TRANSITIONS; commented (public or internal) and assigned.

Every write is audited in the same transaction (the owning tenant's chain, the site's when the
order concerns no tenant) and leaves a WorkOrderEvent row: the status history shown in the admin
and the portal. Events of writes that change no status (a comment, an assignment) have
from_status == to_status; the customer's history shows status changes only.

Internal comment bodies are not put into the audit payload: the tenant's chain goes into the
customer's evidence pack, internal notes must not."""

import datetime as dt
import hashlib

from django.db import transaction
from django.utils import timezone

from audit.services import Actor
from control.errors import InvalidTransition
from core.errors import InvalidParameter
from hosting.models import (
    WORK_ORDER_TRANSITIONS,
    Alert,
    WorkOrder,
    WorkOrderComment,
    WorkOrderEvent,
    WorkOrderPriority,
    WorkOrderSource,
    WorkOrderStatus,
)
from hosting.services._common import actor_for, audit, require_operate, required_text
from tenants import scoping
from tenants.models import Miner, Role, RoleGrant, Site
from tenants.scoping import Capability

SYSTEM = "hosting.work_orders"
S = WorkOrderStatus


def _source_for(user, alert: Alert | None) -> str:
    if alert is not None:
        return WorkOrderSource.ALERT
    if user is None:
        return WorkOrderSource.SYSTEM
    roles = set(RoleGrant.objects.filter(user=user).values_list("role", flat=True))
    return WorkOrderSource.TECHNICIAN if roles == {Role.TECHNICIAN} else WorkOrderSource.OPERATOR


def _event(work_order: WorkOrder, actor: Actor, *, frm: str, to: str, reason: str, at: dt.datetime) -> None:
    WorkOrderEvent.objects.create(
        work_order=work_order, from_status=frm, to_status=to, actor_label=actor.label, reason=reason[:500], at=at
    )


def _audit(actor: Actor, verb: str, work_order: WorkOrder, payload: dict) -> None:
    audit(
        actor,
        f"hosting.work_order.{verb}",
        work_order,
        {"title": work_order.title, "miner": work_order.miner_id, **payload},
        tenant_id=work_order.tenant_id,
        site_code=work_order.site.code,
    )


def _check_assignee(assignee, work_order: WorkOrder) -> None:
    if assignee is None:
        return
    target = work_order.miner if work_order.miner_id else work_order.site
    if not scoping.can(assignee, Capability.OPERATE, target):
        raise InvalidParameter("assignee: cannot act at this site", field="assignee")


@transaction.atomic
def work_order_create(
    *,
    actor: Actor | None,
    user=None,
    site: Site | None = None,
    title: str,
    description: str = "",
    miner: Miner | None = None,
    priority: str = WorkOrderPriority.NORMAL,
    alert: Alert | None = None,
    assignee=None,
    source: str | None = None,
    now: dt.datetime | None = None,
) -> WorkOrder:
    """Open a work order. From an alert, the site, miner and tenant are the alert's. `user` is the
    person acting (None: the system, whose actor defaults to Actor.system("hosting.work_orders")).
    The source is derived (alert / system / technician when the user holds technician grants only /
    operator) unless given."""
    if alert is not None:
        site, miner = alert.site, alert.miner
    if site is None:
        raise InvalidParameter("site: required", field="site_id")
    if miner is not None and miner.site_id != site.pk:
        raise InvalidParameter("miner: not at this site", field="miner_id")
    if priority not in WorkOrderPriority.values:
        raise InvalidParameter(f"priority: one of {', '.join(WorkOrderPriority.values)}", field="priority")
    if source is not None and source not in WorkOrderSource.values:
        raise InvalidParameter(f"source: one of {', '.join(WorkOrderSource.values)}", field="source")
    require_operate(user, site=site, miner=miner)
    actor = actor_for(actor, user, SYSTEM)
    now = now or timezone.now()
    tenant_id = miner.tenant_id if miner is not None else (alert.tenant_id if alert is not None else None)
    work_order = WorkOrder(
        tenant_id=tenant_id,
        site=site,
        miner=miner,
        title=required_text(title, "title", max_length=200),
        description=(description or "").strip(),
        priority=priority,
        source=source or _source_for(user, alert),
        alert=alert,
        created_by=user,
        created_at=now,
        updated_at=now,
    )
    _check_assignee(assignee, work_order)
    work_order.assignee = assignee
    work_order.save()
    _event(work_order, actor, frm="", to=S.OPEN, reason="created", at=now)
    _audit(
        actor,
        "created",
        work_order,
        {
            "to": S.OPEN,
            "source": work_order.source,
            "priority": priority,
            "alert": alert.pk if alert else None,
            "assignee": assignee.pk if assignee else None,
        },
    )
    return work_order


def _lock(work_order: WorkOrder) -> WorkOrder:
    # Two people moving the same order at once: the second re-reads the first's status and is refused.
    return WorkOrder.objects.select_for_update(of=("self",)).select_related("site", "miner").get(pk=work_order.pk)


@transaction.atomic
def work_order_transition(
    *, actor: Actor | None, user=None, work_order: WorkOrder, to: str, reason: str = "", now=None
) -> WorkOrder:
    """Move the order to `to` if WORK_ORDER_TRANSITIONS allows it (409 INVALID_TRANSITION otherwise)."""
    work_order = _lock(work_order)
    require_operate(user, site=work_order.site, miner=work_order.miner)
    frm = work_order.status
    if to not in WORK_ORDER_TRANSITIONS.get(frm, ()):
        raise InvalidTransition(
            f"work order {work_order.pk} cannot go from {frm} to {to}", work_order_id=work_order.pk, state=frm
        )
    actor = actor_for(actor, user, SYSTEM)
    now = now or timezone.now()
    work_order.status, work_order.updated_at = to, now
    fields = ["status", "updated_at"]
    if to == S.RESOLVED:
        work_order.resolved_at = now
        fields.append("resolved_at")
    elif to == S.CLOSED:
        work_order.closed_at = now
        fields.append("closed_at")
    elif frm == S.RESOLVED:  # reopened: the fix did not hold
        work_order.resolved_at = None
        fields.append("resolved_at")
    work_order.save(update_fields=fields)
    reason = (reason or "").strip()
    _event(work_order, actor, frm=frm, to=to, reason=reason, at=now)
    _audit(actor, to, work_order, {"from": frm, "to": to, "reason": reason})
    return work_order


@transaction.atomic
def work_order_comment(
    *, actor: Actor | None, user=None, work_order: WorkOrder, body: str, public: bool = False, now=None
) -> WorkOrderComment:
    """Add a comment; customers see public ones only. A closed order takes no more comments."""
    work_order = _lock(work_order)
    require_operate(user, site=work_order.site, miner=work_order.miner)
    if work_order.status == S.CLOSED:
        raise InvalidTransition(f"work order {work_order.pk} is closed", work_order_id=work_order.pk, state=S.CLOSED)
    body = required_text(body, "body", max_length=10_000)
    actor = actor_for(actor, user, SYSTEM)
    now = now or timezone.now()
    comment = WorkOrderComment.objects.create(
        work_order=work_order, author=user, body=body, public=bool(public), created_at=now
    )
    work_order.updated_at = now
    work_order.save(update_fields=["updated_at"])
    kind = "public" if public else "internal"
    _event(work_order, actor, frm=work_order.status, to=work_order.status, reason=f"{kind} comment", at=now)
    payload = {"comment": comment.pk, "public": bool(public), "sha256": hashlib.sha256(body.encode()).hexdigest()}
    if public:
        payload["body"] = body
    _audit(actor, "commented", work_order, payload)
    return comment


@transaction.atomic
def work_order_assign(*, actor: Actor | None, user=None, work_order: WorkOrder, assignee, now=None) -> WorkOrder:
    """Assign to an operator who may act at the order's site (or unassign with None)."""
    work_order = _lock(work_order)
    require_operate(user, site=work_order.site, miner=work_order.miner)
    if work_order.status == S.CLOSED:
        raise InvalidTransition(f"work order {work_order.pk} is closed", work_order_id=work_order.pk, state=S.CLOSED)
    _check_assignee(assignee, work_order)
    actor = actor_for(actor, user, SYSTEM)
    now = now or timezone.now()
    before = work_order.assignee_id
    work_order.assignee, work_order.updated_at = assignee, now
    work_order.save(update_fields=["assignee", "updated_at"])
    label = assignee.get_username() if assignee is not None else "nobody"
    _event(work_order, actor, frm=work_order.status, to=work_order.status, reason=f"assigned to {label}", at=now)
    _audit(actor, "assigned", work_order, {"from": before, "to": assignee.pk if assignee else None})
    return work_order
