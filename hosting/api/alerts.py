"""/api/v1/hosting/alerts — list in your scope (customers: their miners' alerts and the collector-dark
alerts of their sites); operators raise (source operator), acknowledge and resolve through
hosting.services.alerts."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from core.api.pagination import PAGE_PARAMETERS, PageSchema, filter_by, paginated
from hosting.api.common import ERRORS, WRITE_ERRORS, ReadAllWriteOperators, site_and_miner, valid
from hosting.api.serializers import AlertFilterIn, AlertOut, AlertRaiseIn, HostingReasonIn
from hosting.models import AlertSource
from hosting.selectors.alerts import alert_get, alert_list
from hosting.services import alerts as service
from tenants.permissions import IsOperator

ORDERING = ("-fired_at", "-id")
LOOKUPS = {
    "state": "state",
    "severity": "severity",
    "kind": "kind",
    "site_id": "site__code",
    "miner_id": "miner__miner_id",
}


def _out(request, rows, **kw):
    return AlertOut(rows, context={"request": request}, **kw).data


class AlertListRaiseApi(APIView):
    """GET: alerts in your scope, newest first (filters state, severity, kind, site_id, miner_id).
    POST (operators): raise one; a live alert with the same dedupe key answers 200 with that alert."""

    pagination_class = PageSchema  # the schema's page shape; the view answers with `paginated`

    permission_classes = [ReadAllWriteOperators]

    @extend_schema(parameters=[AlertFilterIn, *PAGE_PARAMETERS], responses={200: AlertOut(many=True), **ERRORS})
    def get(self, request):
        f = valid(AlertFilterIn, request.query_params)
        qs = filter_by(alert_list(request.user), f, LOOKUPS)
        return paginated(request, qs, lambda rows: _out(request, rows, many=True), ordering=ORDERING)

    @extend_schema(request=AlertRaiseIn, responses={201: AlertOut, 200: AlertOut, **ERRORS})
    def post(self, request):
        data = valid(AlertRaiseIn, request.data)
        site, miner = site_and_miner(request.user, data)
        alert = service.alert_raise(
            actor=Actor.user(request.user),
            user=request.user,
            site=site,
            miner=miner,
            kind=data["kind"],
            title=data["title"],
            severity=data["severity"],
            source=AlertSource.OPERATOR,
            details=data["details"],
            dedupe_key=data.get("dedupe_key"),
        )
        code = status.HTTP_201_CREATED if alert.raised else status.HTTP_200_OK
        return Response(_out(request, alert_get(request.user, alert.pk)), status=code)


class AlertDetailApi(APIView):
    @extend_schema(responses={200: AlertOut, **ERRORS})
    def get(self, request, pk):
        return Response(_out(request, alert_get(request.user, pk)))


class _AlertMoveApi(APIView):
    permission_classes = [IsOperator]
    service = None

    def post(self, request, pk):
        alert = alert_get(request.user, pk)
        data = valid(HostingReasonIn, request.data)
        type(self).service(actor=Actor.user(request.user), user=request.user, alert=alert, reason=data["reason"])
        return Response(_out(request, alert_get(request.user, pk)))


@extend_schema(request=HostingReasonIn, responses={200: AlertOut, **WRITE_ERRORS})
class AlertAcknowledgeApi(_AlertMoveApi):
    """POST {reason}: firing → acknowledged."""

    service = staticmethod(service.alert_acknowledge)


@extend_schema(request=HostingReasonIn, responses={200: AlertOut, **WRITE_ERRORS})
class AlertResolveApi(_AlertMoveApi):
    """POST {reason}: firing / acknowledged → resolved."""

    service = staticmethod(service.alert_resolve)
