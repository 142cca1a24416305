"""The original operator pages' curtailment routes (SPEC §6.3, §11; docs/COMPATIBILITY.md "/hosting/api
(operator)"): deprecated, never removed, answered in the original's keys over the one curtailment path
(control.services.curtailment and its pick), so approval by a second person, the blast-radius cap,
overlaps and the audit apply exactly as on /api/admin/v1/curtailments.

    POST /hosting/api/curtailment/calculate   {site_id, target_power_reduction_kw, strategy_id?, duration_hours?}
    POST /hosting/api/curtailment/execute     {…, execution_mode, plan_name?, scheduled_start_time?,
                                               scheduled_end_time?}
    POST /hosting/api/curtailment/cancel      {plan_id, reason?}
    POST /hosting/api/curtailment/emergency-restore   {site_id, reason?}
    GET  /hosting/api/curtailment/history     ?site_id&page&per_page

A plan is a curtailment (`plan_id` = its id). `site_id` is the original's integer id (the site's
`legacy_id` alias), its pk or its code. `strategy_id` is accepted and not carried: the pick sheds the
highest-drawing hashing miners first (ARCHITECTURE.md, Curtailment). No `execution_mode` approves a
plan by itself: every plan waits for a second person's approval (`status: pending`). Operators only;
another site and a missing plan answer the same 403 FORBIDDEN."""

import datetime as dt

from django.core.paginator import Paginator
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from control.api_curtailment import CurtailmentDetailOut, _valid
from control.models import Command, Curtailment, CurtailmentState
from control.selectors import curtailments_for
from control.services import curtailment as service
from control.services.curtailment_power import pick
from core.api.pagination import page_number_field
from telemetry.legacy_shapes import legacy_site_get, legacy_site_ids, utc_iso
from tenants import scoping
from tenants.models import Miner, Site
from tenants.permissions import IsOperator

C = CurtailmentState
DESCRIPTION = "Legacy path (SPEC §11): deprecated, never removed. Use /api/admin/v1/curtailments. "
DEFAULT_HOURS = 24  # the original's calculate assumed a day when no duration was given


def original_status(c: Curtailment) -> str:
    """The original's PlanStatus words for this project's states."""
    if c.state == C.SCHEDULED:
        return "approved" if c.approved_at else "pending"
    return {C.ACTIVE: "executing", C.ENDED: "completed", C.CANCELED: "cancelled"}[c.state]


class PlanIn(serializers.Serializer):
    site_id = serializers.CharField(max_length=64)
    target_power_reduction_kw = serializers.FloatField(min_value=0.001)
    strategy_id = serializers.IntegerField(required=False, help_text="accepted, not carried")
    duration_hours = serializers.IntegerField(required=False, min_value=1, max_value=24 * 31, default=DEFAULT_HOURS)


class ExecuteIn(PlanIn):
    execution_mode = serializers.ChoiceField(choices=["auto", "semi_auto", "manual"])
    plan_name = serializers.CharField(required=False, max_length=2000)
    scheduled_start_time = serializers.DateTimeField(required=False, default_timezone=dt.UTC)
    scheduled_end_time = serializers.DateTimeField(required=False, default_timezone=dt.UTC)


class CancelIn(serializers.Serializer):
    plan_id = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(required=False, max_length=2000, default="Cancelled by operator")


class RestoreIn(serializers.Serializer):
    site_id = serializers.CharField(max_length=64)
    reason = serializers.CharField(required=False, max_length=2000, default="Emergency restore")


class HistoryIn(serializers.Serializer):
    site_id = serializers.CharField(required=False, max_length=64)
    page = page_number_field()
    per_page = serializers.IntegerField(required=False, min_value=1, max_value=500, default=20)


def _body(request) -> dict:
    """The JSON body, over the query string (the original read the body or the form; a query works too)."""
    body = request.data if isinstance(request.data, dict) else {}
    query = {name: value for name, value in request.query_params.items() if value != ""}  # empty = absent
    return {**query, **body}


def _site(user, ref):
    return legacy_site_get(user, str(ref))


def _site_first(request) -> tuple[dict, Site | None]:
    """(body, the named site): the site is resolved before the body is checked, so another site's id
    answers 403 whatever else the body says."""
    body = _body(request)
    ref = body.get("site_id")
    return body, (None if ref in (None, "") else _site(request.user, ref))


def _draft(site, target_kw: float, start: dt.datetime, end: dt.datetime, reason: str) -> Curtailment:
    """An unsaved curtailment of the whole site: what calculate shows, and what execute creates."""
    return Curtailment(site=site, start_at=start, end_at=end, reason=reason, target_kw=target_kw, miners=[])


class _LegacyCurtailmentView(APIView):
    permission_classes = [IsOperator]


@extend_schema(deprecated=True, tags=["legacy"], request=PlanIn, responses=OpenApiTypes.OBJECT, description=DESCRIPTION)
class LegacyCurtailmentCalculateApi(_LegacyCurtailmentView):
    """POST /hosting/api/curtailment/calculate — {success, plan}: the miners a curtailment would pick now."""

    def post(self, request):
        body, site = _site_first(request)
        data = _valid(PlanIn, body)
        assert site is not None  # site_id is required
        now = timezone.now()
        c = _draft(site, data["target_power_reduction_kw"], now, now + dt.timedelta(hours=data["duration_hours"]), "-")
        plan = pick(c, now=now)
        chosen = {r["miner"]: r for r in plan.chosen}
        miners = Miner.objects.filter(pk__in=chosen).select_related("tenant").order_by("pk")
        selected = [
            {
                "id": m.pk,
                "miner_id": m.miner_id,
                "serial_number": m.miner_id,
                "customer_id": m.tenant_id,
                "customer_name": m.tenant.name,
                "power_w": chosen[m.pk]["power_w"],
                "power_kw": round(chosen[m.pk]["power_w"] / 1000, 3),
                "why": chosen[m.pk]["why"],
            }
            for m in miners
        ]
        customers = {m.tenant_id: m.tenant.name for m in miners}
        body = {
            "selected_miners": selected,
            "total_power_saved": plan.expected_kw,
            "affected_customers": [{"id": pk, "name": name} for pk, name in sorted(customers.items())],
            "economic_impact": {},  # no prices here (docs/COMPATIBILITY.md)
            "not_chosen": plan.not_chosen,
            "target_power_reduction_kw": data["target_power_reduction_kw"],
        }
        return Response({"success": True, "plan": body})


@extend_schema(
    deprecated=True, tags=["legacy"], request=ExecuteIn, responses=OpenApiTypes.OBJECT, description=DESCRIPTION
)
class LegacyCurtailmentExecuteApi(_LegacyCurtailmentView):
    """POST /hosting/api/curtailment/execute — 201 {success, plan_id, status, message}: a scheduled curtailment."""

    def post(self, request):
        body, site = _site_first(request)
        data = _valid(ExecuteIn, body)
        assert site is not None  # site_id is required
        start = data.get("scheduled_start_time") or timezone.now()
        end = data.get("scheduled_end_time") or start + dt.timedelta(hours=data["duration_hours"])
        name = data.get("plan_name") or f"Curtailment plan {timezone.now():%Y%m%d%H%M%S}"
        c = service.curtailment_create(
            actor=Actor.user(request.user),
            user=request.user,
            site=site,
            start_at=start,
            end_at=end,
            reason=name,
            target_kw=data["target_power_reduction_kw"],
        )
        c = scoping.object_get(curtailments_for(request.user), c.pk)
        body = {
            "success": True,
            "plan_id": c.pk,
            "status": original_status(c),
            "message": f"{data['execution_mode']} mode: curtailment #{c.pk} scheduled, "
            "pending a second person's approval",
            "curtailment": CurtailmentDetailOut(c).data,
        }
        return Response(body, status=status.HTTP_201_CREATED)


def _restored(c: Curtailment) -> int:
    """Miners the end of `c` re-enables: the enable_hashing batch made, and those still owed one."""
    made = Command.objects.filter(batch_id=c.enable_batch_id).count() if c.enable_batch_id else 0
    return made + len(c.enable_pending)


@extend_schema(
    deprecated=True, tags=["legacy"], request=CancelIn, responses=OpenApiTypes.OBJECT, description=DESCRIPTION
)
class LegacyCurtailmentCancelApi(_LegacyCurtailmentView):
    """POST /hosting/api/curtailment/cancel — {success, message}; an active one re-enables its miners at once."""

    def post(self, request):
        body = _body(request)
        if str(body.get("plan_id", "")).isdigit():  # scope first: a foreign plan says nothing about the body
            scoping.object_get(curtailments_for(request.user), int(body["plan_id"]))
        data = _valid(CancelIn, body)
        c = scoping.object_get(curtailments_for(request.user), data["plan_id"])
        c = service.curtailment_cancel(
            actor=Actor.user(request.user), user=request.user, curtailment=c, reason=data["reason"]
        )
        message = f"Curtailment plan {c.pk} cancelled successfully"
        return Response({"success": True, "message": message, "restored_count": _restored(c)})


@extend_schema(
    deprecated=True, tags=["legacy"], request=RestoreIn, responses=OpenApiTypes.OBJECT, description=DESCRIPTION
)
class LegacyCurtailmentEmergencyRestoreApi(_LegacyCurtailmentView):
    """POST /hosting/api/curtailment/emergency-restore — cancel the site's approved and active curtailments."""

    def post(self, request):
        body, site = _site_first(request)
        data = _valid(RestoreIn, body)
        assert site is not None  # site_id is required
        # the original restored its approved and executing plans; one still waiting for approval stays
        live = (
            curtailments_for(request.user)
            .filter(site=site)
            .filter(Q(state=C.ACTIVE) | Q(state=C.SCHEDULED, approved_at__isnull=False))
            .order_by("pk")
        )
        restored, cancelled = 0, 0
        for c in live:
            done = service.curtailment_cancel(
                actor=Actor.user(request.user),
                user=request.user,
                curtailment=c,
                reason=f"Emergency restore: {data['reason']}",
            )
            restored += _restored(done)
            cancelled += 1
        if not cancelled:
            return Response({"success": True, "restored_count": 0, "message": "No active curtailment plans to restore"})
        message = f"Successfully restored {restored} miners and cancelled {cancelled} curtailment plans"
        return Response({"success": True, "restored_count": restored, "cancelled_plans": cancelled, "message": message})


@extend_schema(
    deprecated=True, tags=["legacy"], parameters=[HistoryIn], responses=OpenApiTypes.OBJECT, description=DESCRIPTION
)
class LegacyCurtailmentHistoryApi(_LegacyCurtailmentView):
    """GET /hosting/api/curtailment/history — {success, history, pagination}, newest first."""

    def get(self, request):
        f = _valid(HistoryIn, request.query_params)
        qs = curtailments_for(request.user)
        if "site_id" in f:
            qs = qs.filter(site=_site(request.user, f["site_id"]))
        paginator = Paginator(qs.order_by("-created_at", "-pk"), f["per_page"])
        page = paginator.get_page(f["page"])
        rows = list(page.object_list)
        ids = legacy_site_ids({c.site_id for c in rows})
        history = [
            {
                "id": c.pk,
                "site_id": ids[c.site_id],
                "site_code": c.site.code,
                "site_name": c.site.name,
                "strategy_id": None,
                "strategy_name": "N/A",
                "target_power_reduction_kw": c.target_kw,
                "actual_power_saved_kw": c.shed_kw or 0.0,
                "expected_power_saved_kw": c.expected_kw,
                "status": original_status(c),
                "state": c.state,
                "execution_mode": "manual",
                "reason": c.reason,
                "created_at": utc_iso(c.created_at),
                "executed_at": utc_iso(c.started_at),
                "scheduled_start_time": utc_iso(c.start_at),
                "scheduled_end_time": utc_iso(c.end_at),
            }
            for c in rows
        ]
        pagination = {
            "page": page.number,
            "pages": paginator.num_pages,
            "per_page": paginator.per_page,
            "total": paginator.count,
            "has_next": page.has_next(),
            "has_prev": page.has_previous(),
        }
        return Response({"success": True, "history": history, "pagination": pagination})
