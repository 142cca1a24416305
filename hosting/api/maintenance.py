"""/api/v1/hosting/maintenance_windows — list in your scope (customers: the windows covering their
miners); operators create, cancel and expire through hosting.services.maintenance."""

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from core.api.pagination import PAGE_PARAMETERS, PageSchema, paginated
from hosting.api.common import ERRORS, WRITE_ERRORS, ReadAllWriteOperators, site_and_miner, valid
from hosting.api.serializers import HostingReasonIn, WindowCreateIn, WindowExpireIn, WindowFilterIn, WindowOut
from hosting.selectors.maintenance import maintenance_window_get, maintenance_windows_for
from hosting.services import maintenance as service
from tenants import scoping
from tenants.permissions import IsOperator
from tenants.site_identity import site_named_q

ORDERING = ("-starts_at", "-id")


def _out(request, rows, **kw):
    return WindowOut(rows, context={"request": request}, **kw).data


def active_q(now) -> Q:
    """Not canceled, and not over (a one-off not ended, a weekly one not expired)."""
    return Q(canceled_at__isnull=True) & (
        Q(ends_at__gt=now)
        | Q(ends_at__isnull=True, expires_at__isnull=True)
        | Q(ends_at__isnull=True, expires_at__gt=now)
    )


class WindowListCreateApi(APIView):
    """GET: windows in your scope, latest start first (filters site_id, active). POST (operators):
    a one-off window (ends_at) or a weekly one (weekdays, start_time, duration_minutes, timezone)."""

    pagination_class = PageSchema  # the schema's page shape; the view answers with `paginated`

    permission_classes = [ReadAllWriteOperators]

    @extend_schema(parameters=[WindowFilterIn, *PAGE_PARAMETERS], responses={200: WindowOut(many=True), **ERRORS})
    def get(self, request):
        f = valid(WindowFilterIn, request.query_params)
        qs = maintenance_windows_for(request.user).select_related("site", "zone", "miner", "owner")
        if "site_id" in f:
            qs = qs.filter(site_named_q(f["site_id"], "site"))
        if "active" in f:
            active = active_q(timezone.now())
            qs = qs.filter(active) if f["active"] == "true" else qs.exclude(active)
        return paginated(request, qs, lambda rows: _out(request, rows, many=True), ordering=ORDERING)

    @extend_schema(request=WindowCreateIn, responses={201: WindowOut, **ERRORS})
    def post(self, request):
        data = valid(WindowCreateIn, request.data)
        site, miner = site_and_miner(request.user, data)
        zone = scoping.zone_get(request.user, site, data["zone"]) if data.get("zone") else None
        window = service.maintenance_window_create(
            actor=Actor.user(request.user),
            user=request.user,
            site=site,
            zone=zone,
            miner=miner,
            reason=data["reason"],
            starts_at=data["starts_at"],
            ends_at=data.get("ends_at"),
            weekdays=data.get("weekdays"),
            start_time=data.get("start_time"),
            duration_minutes=data.get("duration_minutes"),
            timezone_name=data.get("timezone"),
            expires_at=data.get("expires_at"),
        )
        return Response(_out(request, maintenance_window_get(request.user, window.pk)), status=status.HTTP_201_CREATED)


class WindowDetailApi(APIView):
    @extend_schema(responses={200: WindowOut, **ERRORS})
    def get(self, request, pk):
        return Response(_out(request, maintenance_window_get(request.user, pk)))


@extend_schema(request=HostingReasonIn, responses={200: WindowOut, **WRITE_ERRORS})
class WindowCancelApi(APIView):
    """POST {reason}: cancel a window that is not over; it held until now."""

    permission_classes = [IsOperator]

    def post(self, request, pk):
        window = maintenance_window_get(request.user, pk)
        data = valid(HostingReasonIn, request.data)
        service.maintenance_window_cancel(
            actor=Actor.user(request.user), user=request.user, window=window, reason=data["reason"]
        )
        return Response(_out(request, maintenance_window_get(request.user, pk)))


@extend_schema(request=WindowExpireIn, responses={200: WindowOut, **WRITE_ERRORS})
class WindowExpireApi(APIView):
    """POST {at, reason}: stop a weekly window recurring from `at` (default now)."""

    permission_classes = [IsOperator]

    def post(self, request, pk):
        window = maintenance_window_get(request.user, pk)
        data = valid(WindowExpireIn, request.data)
        service.maintenance_window_expire(
            actor=Actor.user(request.user), user=request.user, window=window, at=data.get("at"), reason=data["reason"]
        )
        return Response(_out(request, maintenance_window_get(request.user, pk)))
