"""The original application's hosting routes that map onto work orders and alerts (SPEC §11;
/work/shared/LEGACY_ROUTES.md): deprecated, never removed, answered in their original top-level
shape ({success, tickets} …) with this project's rows inside. Ids: `site_id` is the Site.code and
`miner_id` the edge miner id (the original used database ids); scoping and errors as in v1."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from core.api.pagination import filter_by
from hosting.api.common import DEPRECATED, ERRORS, WRITE_ERRORS, ReadAllWriteOperators, site_and_miner, valid
from hosting.api.serializers import AlertOut, WorkOrderOut
from hosting.api.work_orders import detail_body
from hosting.models import AlertSeverity, AlertState, WorkOrderPriority, WorkOrderStatus
from hosting.selectors.alerts import alert_list
from hosting.selectors.work_orders import work_order_get, work_order_list
from hosting.services import work_orders as service
from tenants.permissions import IsOperator

# The original's "medium" priority is this project's "normal".
PRIORITIES = {**{p: p for p in WorkOrderPriority.values}, "medium": WorkOrderPriority.NORMAL}


class TicketFilterIn(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)
    status = serializers.ChoiceField(choices=WorkOrderStatus.choices, required=False)
    priority = serializers.ChoiceField(choices=list(PRIORITIES), required=False)
    site_id = serializers.CharField(required=False, max_length=64)


class TicketCreateIn(serializers.Serializer):
    site_id = serializers.CharField(max_length=64)
    miner_id = serializers.CharField(required=False, allow_blank=True, max_length=128)
    title = serializers.CharField(required=False, max_length=200)
    subject = serializers.CharField(required=False, max_length=200, help_text="the original's name for title")
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=20_000)
    priority = serializers.ChoiceField(choices=list(PRIORITIES), default="normal")
    category = serializers.CharField(required=False, allow_blank=True, max_length=64)

    def validate(self, data):
        if not (data.get("title") or data.get("subject")):
            raise serializers.ValidationError({"title": ["required"]})
        return data


class TicketStatusIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=WorkOrderStatus.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


def _tickets(request, qs) -> list[dict]:
    return WorkOrderOut(qs, many=True, context={"request": request}).data


TICKETS = inline_serializer(
    "LegacyTickets", {"success": serializers.BooleanField(), "tickets": WorkOrderOut(many=True)}
)


@extend_schema(deprecated=True)
class LegacyTicketsApi(APIView):
    """GET/POST /hosting/api/tickets (deprecated): work orders in the original's envelope."""

    permission_classes = [ReadAllWriteOperators]

    @extend_schema(
        parameters=[TicketFilterIn],
        responses={200: TICKETS, **ERRORS},
        description=DEPRECATED + "Use GET /api/v1/hosting/work_orders.",
    )
    def get(self, request):
        f = valid(TicketFilterIn, request.query_params)
        if "priority" in f:
            f["priority"] = PRIORITIES[f["priority"]]
        qs = filter_by(
            work_order_list(request.user), f, {"status": "status", "priority": "priority", "site_id": "site__code"}
        )
        return Response({"success": True, "tickets": _tickets(request, qs[: f["limit"]])})

    @extend_schema(
        request=TicketCreateIn,
        responses={
            201: inline_serializer(
                "LegacyTicketCreated",
                {
                    "success": serializers.BooleanField(),
                    "message": serializers.CharField(),
                    "ticket_id": serializers.IntegerField(),
                },
            ),
            **ERRORS,
        },
        description=DEPRECATED + "Use POST /api/v1/hosting/work_orders.",
    )
    def post(self, request):
        data = valid(TicketCreateIn, request.data)
        site, miner = site_and_miner(request.user, {**data, "miner_id": data.get("miner_id") or None})
        work_order = service.work_order_create(
            actor=Actor.user(request.user),
            user=request.user,
            site=site,
            miner=miner,
            title=data.get("title") or data["subject"],
            description=data["description"],
            priority=PRIORITIES[data["priority"]],
        )
        body = {"success": True, "message": "ticket created", "ticket_id": work_order.pk}
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(deprecated=True)
class LegacyTicketDetailApi(APIView):
    """GET /hosting/api/tickets/<id> (deprecated): {success, ticket} with comments and history."""

    @extend_schema(
        operation_id="legacy_hosting_ticket_detail",
        responses={
            200: inline_serializer(
                "LegacyTicket", {"success": serializers.BooleanField(), "ticket": serializers.DictField()}
            ),
            **ERRORS,
        },
        description=DEPRECATED + "Use GET /api/v1/hosting/work_orders/<id>.",
    )
    def get(self, request, pk):
        return Response({"success": True, "ticket": detail_body(request, work_order_get(request.user, pk))})


@extend_schema(deprecated=True)
class LegacyTicketStatusApi(APIView):
    """PATCH /hosting/api/tickets/<id>/status (deprecated): one transition of the work order."""

    permission_classes = [IsOperator]

    @extend_schema(
        request=TicketStatusIn,
        responses={
            200: inline_serializer(
                "LegacyTicketStatus",
                {
                    "success": serializers.BooleanField(),
                    "message": serializers.CharField(),
                    "ticket_id": serializers.IntegerField(),
                    "old_status": serializers.CharField(),
                    "new_status": serializers.CharField(),
                },
            ),
            **WRITE_ERRORS,
        },
        description=DEPRECATED + "Use POST /api/v1/hosting/work_orders/<id>/transition.",
    )
    def patch(self, request, pk):
        work_order = work_order_get(request.user, pk)
        data = valid(TicketStatusIn, request.data)
        old = work_order.status
        service.work_order_transition(
            actor=Actor.user(request.user),
            user=request.user,
            work_order=work_order,
            to=data["status"],
            reason=data["reason"],
        )
        body = {"success": True, "message": "status updated", "ticket_id": work_order.pk, "old_status": old}
        return Response({**body, "new_status": data["status"]})


class IncidentFilterIn(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)
    site_id = serializers.CharField(required=False, max_length=64)
    severity = serializers.ChoiceField(choices=AlertSeverity.choices, required=False)
    status = serializers.ChoiceField(choices=AlertState.choices, required=False)


def _incidents(request):
    f = valid(IncidentFilterIn, request.query_params)
    qs = filter_by(alert_list(request.user), f, {"site_id": "site__code", "severity": "severity", "status": "state"})
    return f, AlertOut(qs[: f["limit"]], many=True, context={"request": request}).data


INCIDENTS = inline_serializer(
    "LegacyIncidents", {"success": serializers.BooleanField(), "incidents": AlertOut(many=True)}
)


@extend_schema(deprecated=True)
class LegacyIncidentsApi(APIView):
    """GET /hosting/api/incidents (deprecated): alerts as incidents, newest first: {success, incidents}."""

    key = "incidents"
    paged = False

    @extend_schema(
        parameters=[IncidentFilterIn],
        responses={200: INCIDENTS, **ERRORS},
        description=DEPRECATED + "Use GET /api/v1/hosting/alerts.",
    )
    def get(self, request):
        f, rows = _incidents(request)
        body = {"success": True, self.key: rows}
        if self.paged:  # one page of `limit` rows: the original's page/per_page are not kept
            body["pagination"] = {"page": 1, "per_page": f["limit"], "total": len(rows)}
        return Response(body)


class LegacyMonitoringIncidentsApi(LegacyIncidentsApi):
    """GET /hosting/api/monitoring/incidents (deprecated): {success, incidents, pagination}."""

    paged = True
