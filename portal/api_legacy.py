"""The original application's customer-portal JSON routes (SPEC §11, LEGACY_ROUTES.md "Customer
portal"), kept in their old top-level shapes and documented as deprecated. They read through the
portal's selectors, scoped to the caller: a customer's own miners, an operator's sites. `tenant=`
narrows to one tenant the caller may open (else 403 FORBIDDEN, existing or not).

The original also returned revenue estimates (`monthly_revenue`, `daily_revenue`) from a fixed
price per TH/s; this product keeps no prices, so those keys are not sent."""

from django.core.paginator import Paginator
from django.db.models import Count
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import page_number_field
from portal import selectors
from telemetry.selectors import STATES
from tenants import scoping

DEPRECATED = "Legacy path of the original customer portal (SPEC §11): deprecated, never removed. "
ERRORS = {
    400: OpenApiResponse(description="INVALID_PARAMETER: malformed parameters"),
    401: OpenApiResponse(description="UNAUTHENTICATED: not signed in"),
    403: OpenApiResponse(description="FORBIDDEN: the tenant is outside your scope (the same whether it exists or not)"),
}
TENANT_PARAM = OpenApiParameter(
    "tenant", OpenApiTypes.STR, description="Tenant slug: only this tenant's miners (one you may open in the portal)"
)
MAX_PER_PAGE = 500


def _legacy(description: str, response, parameters=()):
    return extend_schema(
        deprecated=True,
        description=DEPRECATED + description,
        responses={200: response, **ERRORS},
        parameters=[TENANT_PARAM, *parameters],
        tags=["legacy"],
    )


def _miners(request):
    slug = request.query_params.get("tenant", "")
    if slug:
        return selectors.portal_view_get(request.user, slug).miners(request.user)
    return scoping.miners_for(request.user)


def _ths(value) -> float | None:
    return None if value is None else round(float(value), 3)


def _miner_row(r: dict) -> dict:
    return {
        "id": f"{r['site__code']}/{r['miner_id']}",
        "miner_id": r["miner_id"],
        "site_id": r["site__code"],
        "site_name": r["site__name"],
        "zone_id": r["zone__code"],
        "miner_model": r["model"],
        "status": r["state"],
        "hashrate": _ths(r["hashrate_ths"]),
        "nominal_hashrate": _ths(r["nominal_hashrate_ths"]),
        "temperature_max": r["lv__temperature_max"],
        "last_seen": r["lv__ts"],
    }


class ClientMinerSerializer(serializers.Serializer):
    """One miner in the legacy client answers (documentation only: rows are built by _miner_row)."""

    id = serializers.CharField(help_text="<site_id>/<miner_id>")
    miner_id = serializers.CharField()
    site_id = serializers.CharField(help_text="Site.code")
    site_name = serializers.CharField()
    zone_id = serializers.CharField(allow_null=True)
    miner_model = serializers.CharField()
    status = serializers.CharField(help_text="online | offline | unknown (derived, SPEC §5)")
    hashrate = serializers.FloatField(allow_null=True, help_text="TH/s now (hashrate_5s)")
    nominal_hashrate = serializers.FloatField(allow_null=True, help_text="TH/s")
    temperature_max = serializers.FloatField(allow_null=True)
    last_seen = serializers.DateTimeField(allow_null=True)


class ClientDashboardApi(APIView):
    """GET /api/client/dashboard — {success, stats, recent_miners}."""

    @_legacy(
        "Your fleet at a glance: miner counts per state, hashrate now vs nominal (TH/s), the 10 newest miners.",
        inline_serializer(
            "LegacyClientDashboard",
            {
                "success": serializers.BooleanField(),
                "stats": inline_serializer(
                    "LegacyClientDashboardStats",
                    {
                        "total_miners": serializers.IntegerField(),
                        "active_miners": serializers.IntegerField(help_text="online"),
                        "offline_miners": serializers.IntegerField(),
                        "unknown_miners": serializers.IntegerField(),
                        "total_hashrate": serializers.FloatField(help_text="TH/s"),
                        "nominal_hashrate": serializers.FloatField(help_text="TH/s"),
                    },
                ),
                "recent_miners": ClientMinerSerializer(many=True),
            },
        ),
    )
    def get(self, request):
        miners = _miners(request)
        totals = selectors.dashboard_figures(request.user, miners)["totals"]
        rows, _ = selectors.miner_list(request.user, miners, sort="miner")
        recent = rows.order_by("-created_at", "-pk")[:10]
        stats = {
            "total_miners": totals["miners"],
            "active_miners": totals["online"],
            "offline_miners": totals["offline"],
            "unknown_miners": totals["unknown"],
            "total_hashrate": totals["hashrate_ths"],
            "nominal_hashrate": totals["nominal_ths"],
        }
        return Response({"success": True, "stats": stats, "recent_miners": [_miner_row(r) for r in recent]})


class ClientMinerDistributionApi(APIView):
    """GET /api/client/miner-distribution — {success, labels, data}: miners per site (chart data)."""

    @_legacy(
        "Your miners per site, as chart labels (site names) and data (counts).",
        inline_serializer(
            "LegacyClientMinerDistribution",
            {
                "success": serializers.BooleanField(),
                "labels": serializers.ListField(child=serializers.CharField()),
                "data": serializers.ListField(child=serializers.IntegerField()),
            },
        ),
    )
    def get(self, request):
        rows = (
            _miners(request)
            .order_by()
            .values("site__code", "site__name")
            .annotate(n=Count("pk"))
            .order_by("site__code")
            .values_list("site__name", "n")
        )
        labels, data = [], []
        for name, n in rows:
            labels.append(name)
            data.append(n)
        return Response({"success": True, "labels": labels, "data": data})


class PageSerializer(serializers.Serializer):
    page = page_number_field()
    per_page = serializers.IntegerField(min_value=1, max_value=MAX_PER_PAGE, default=50)


class ClientMinersApi(APIView):
    """GET /api/client/miners?page=&per_page= — {success, miners, stats, pagination}."""

    @_legacy(
        "Your miners with live state, paginated (per_page ≤ 500), ordered by site and miner id.",
        inline_serializer(
            "LegacyClientMiners",
            {
                "success": serializers.BooleanField(),
                "miners": ClientMinerSerializer(many=True),
                "stats": inline_serializer(
                    "LegacyClientMinersStats",
                    {"total": serializers.IntegerField(), **{s: serializers.IntegerField() for s in STATES}},
                ),
                "pagination": inline_serializer(
                    "LegacyClientPagination",
                    {
                        "page": serializers.IntegerField(),
                        "per_page": serializers.IntegerField(),
                        "total": serializers.IntegerField(),
                        "pages": serializers.IntegerField(),
                        "has_next": serializers.BooleanField(),
                        "has_prev": serializers.BooleanField(),
                    },
                ),
            },
        ),
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT, description="from 1"),
            OpenApiParameter("per_page", OpenApiTypes.INT, description=f"1–{MAX_PER_PAGE}, default 50"),
        ],
    )
    def get(self, request):
        params = PageSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        rows, counts = selectors.miner_list(request.user, _miners(request), sort="site")
        paginator = Paginator(rows, params.validated_data["per_page"])
        page = paginator.get_page(params.validated_data["page"])
        return Response(
            {
                "success": True,
                "miners": [_miner_row(r) for r in page.object_list],
                "stats": {"total": sum(counts.values()), **counts},
                "pagination": {
                    "page": page.number,
                    "per_page": paginator.per_page,
                    "total": paginator.count,
                    "pages": paginator.num_pages,
                    "has_next": page.has_next(),
                    "has_prev": page.has_previous(),
                },
            }
        )
