"""/api/v1/hosting/work_orders — customers read their tenants' orders (public comments, status
history); operators and technicians read those of their sites and create, transition, comment and
assign through hosting.services.work_orders."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from core.api.pagination import PAGE_PARAMETERS, PageSchema, filter_by, paginated
from hosting.api.common import ERRORS, WRITE_ERRORS, ReadAllWriteOperators, site_and_miner, user_named, valid
from hosting.api.serializers import (
    WorkOrderAssignIn,
    WorkOrderCommentIn,
    WorkOrderCreateIn,
    WorkOrderDetailOut,
    WorkOrderFilterIn,
    WorkOrderOut,
    WorkOrderTransitionIn,
)
from hosting.selectors.alerts import alert_get
from hosting.selectors.work_orders import work_order_comments, work_order_get, work_order_history, work_order_list
from hosting.services import work_orders as service
from tenants.permissions import IsOperator

ORDERING = ("-created_at", "-id")
LOOKUPS = {"status": "status", "site_id": "site__code", "miner_id": "miner__miner_id"}


def detail_body(request, work_order) -> dict:
    context = {
        "request": request,
        "comments": list(work_order_comments(request.user, work_order)),
        "history": list(work_order_history(request.user, work_order)),
    }
    return WorkOrderDetailOut(work_order, context=context).data


class WorkOrderListCreateApi(APIView):
    """GET: work orders in your scope, newest first (filters status, site_id, miner_id; cursor
    pagination). POST (operators): open one at a site or miner, or from an alert."""

    pagination_class = PageSchema  # the schema's page shape; the view answers with `paginated`

    permission_classes = [ReadAllWriteOperators]

    @extend_schema(parameters=[WorkOrderFilterIn, *PAGE_PARAMETERS], responses={200: WorkOrderOut(many=True), **ERRORS})
    def get(self, request):
        f = valid(WorkOrderFilterIn, request.query_params)
        qs = filter_by(work_order_list(request.user), f, LOOKUPS)
        ctx = {"request": request}
        return paginated(request, qs, lambda rows: WorkOrderOut(rows, many=True, context=ctx).data, ordering=ORDERING)

    @extend_schema(request=WorkOrderCreateIn, responses={201: WorkOrderDetailOut, **ERRORS})
    def post(self, request):
        data = valid(WorkOrderCreateIn, request.data)
        alert = alert_get(request.user, data["alert_id"]) if "alert_id" in data else None
        site, miner = site_and_miner(request.user, data) if alert is None else (None, None)
        work_order = service.work_order_create(
            actor=Actor.user(request.user),
            user=request.user,
            site=site,
            miner=miner,
            alert=alert,
            title=data["title"],
            description=data["description"],
            priority=data["priority"],
            assignee=user_named(data.get("assignee")),
        )
        return Response(detail_body(request, work_order_get(request.user, work_order.pk)), status.HTTP_201_CREATED)


class WorkOrderDetailApi(APIView):
    """GET one order with its comments and status history (customers: public comments, status changes)."""

    @extend_schema(responses={200: WorkOrderDetailOut, **ERRORS})
    def get(self, request, pk):
        return Response(detail_body(request, work_order_get(request.user, pk)))


class _WorkOrderWriteApi(APIView):
    permission_classes = [IsOperator]

    def post(self, request, pk):
        work_order = work_order_get(request.user, pk)  # scope first: a foreign id says nothing about the body
        self.write(request, work_order, Actor.user(request.user))
        return Response(detail_body(request, work_order_get(request.user, pk)), status=self.answer_status)

    answer_status = status.HTTP_200_OK


@extend_schema(request=WorkOrderTransitionIn, responses={200: WorkOrderDetailOut, **WRITE_ERRORS})
class WorkOrderTransitionApi(_WorkOrderWriteApi):
    """POST {to, reason}: move the order along the transition table (409 INVALID_TRANSITION otherwise)."""

    def write(self, request, work_order, actor):
        data = valid(WorkOrderTransitionIn, request.data)
        service.work_order_transition(
            actor=actor, user=request.user, work_order=work_order, to=data["to"], reason=data["reason"]
        )


@extend_schema(request=WorkOrderCommentIn, responses={201: WorkOrderDetailOut, **WRITE_ERRORS})
class WorkOrderCommentApi(_WorkOrderWriteApi):
    """POST {body, public}: add a comment; customers see public ones only."""

    answer_status = status.HTTP_201_CREATED

    def write(self, request, work_order, actor):
        data = valid(WorkOrderCommentIn, request.data)
        service.work_order_comment(
            actor=actor, user=request.user, work_order=work_order, body=data["body"], public=data["public"]
        )


@extend_schema(request=WorkOrderAssignIn, responses={200: WorkOrderDetailOut, **WRITE_ERRORS})
class WorkOrderAssignApi(_WorkOrderWriteApi):
    """POST {assignee}: assign to an operator who may act at the site (null unassigns)."""

    def write(self, request, work_order, actor):
        data = valid(WorkOrderAssignIn, request.data)
        service.work_order_assign(
            actor=actor, user=request.user, work_order=work_order, assignee=user_named(data["assignee"])
        )
