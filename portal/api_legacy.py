"""The original application's customer-portal JSON routes (SPEC §11, LEGACY_ROUTES.md "Customer
portal"), in their old shapes and documented as deprecated, at /hosting/api/client/* (where the
original served them) and, for the first three, at /api/client/* too. They read through the
portal's selectors, scoped to the caller: a customer's own miners, an operator's sites. `tenant=`
narrows to one tenant the caller may open (else 403 FORBIDDEN, existing or not). The shared row
and its conventions (integer ids, status words, no revenue): portal/legacy_client.py."""

import datetime as dt

from django.core.paginator import Paginator
from django.db.models import Count
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import page_number_field
from core.errors import Forbidden
from hosting.reports.sla_sql import hashrate_series
from portal import selectors
from portal.legacy_client import MAX_PER_PAGE, ClientMinerSerializer, caller_miners, legacy, miner_row
from telemetry.selectors import STATES
from tenants.scoping import FORBIDDEN_MESSAGE


class ClientDashboardApi(APIView):
    """GET /hosting/api/client/dashboard (and /api/client/dashboard) — {success, stats, recent_miners}."""

    @legacy(
        "Your fleet at a glance: miner counts per state, hashrate now vs nominal (TH/s), the 10 newest miners. "
        "monthly_revenue is null: this product keeps no prices.",
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
                        "monthly_revenue": serializers.FloatField(allow_null=True, help_text="always null"),
                    },
                ),
                "recent_miners": ClientMinerSerializer(many=True),
            },
        ),
    )
    def get(self, request):
        miners = caller_miners(request)
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
            "monthly_revenue": None,
        }
        return Response({"success": True, "stats": stats, "recent_miners": [miner_row(r) for r in recent]})


class ClientMinerDistributionApi(APIView):
    """GET /hosting/api/client/miner-distribution (and /api/client/…) — {success, labels, data}:
    miners per site (chart data)."""

    @legacy(
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
            caller_miners(request)
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
    """GET /hosting/api/client/miners?page=&per_page= (and /api/client/miners) — {success, miners,
    stats, pagination}."""

    @legacy(
        "Your miners with live state, paginated (per_page ≤ 500), ordered by site and miner id.",
        inline_serializer(
            "LegacyClientMiners",
            {
                "success": serializers.BooleanField(),
                "miners": ClientMinerSerializer(many=True),
                "stats": inline_serializer(
                    "LegacyClientMinersStats",
                    {
                        "total": serializers.IntegerField(),
                        "active": serializers.IntegerField(help_text="online (the original's word)"),
                        "pending": serializers.IntegerField(help_text="always 0: no approval queue for miners"),
                        **{s: serializers.IntegerField() for s in STATES},
                    },
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
        parameters=[PageSerializer],  # page 1 … MAX_PAGE_NUMBER, per_page 1 … MAX_PER_PAGE
    )
    def get(self, request):
        params = PageSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        rows, counts = selectors.miner_list(request.user, caller_miners(request), sort="site")
        paginator = Paginator(rows, params.validated_data["per_page"])
        page = paginator.get_page(params.validated_data["page"])
        return Response(
            {
                "success": True,
                "miners": [miner_row(r) for r in page.object_list],
                "stats": {"total": sum(counts.values()), "active": counts["online"], "pending": 0, **counts},
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


class ClientMinerDetailApi(APIView):
    """GET /hosting/api/client/miners/<int:miner_id> — {success, device}."""

    @legacy(
        "One of your miners by its integer id (the Miner's database id): the list's row plus the original's "
        "temperature and revenue keys (revenue null). Another customer's miner, a miner outside your sites "
        "and an id that does not exist answer the same 403 FORBIDDEN.",
        inline_serializer(
            "LegacyClientMinerDetail",
            {"success": serializers.BooleanField(), "device": ClientMinerSerializer()},
        ),
        operation_id="hosting_api_client_miner_detail",
    )
    def get(self, request, miner_id: int):
        rows, _ = selectors.miner_list(request.user, caller_miners(request).filter(pk=miner_id))
        row = rows.first()
        if row is None:
            raise Forbidden(FORBIDDEN_MESSAGE)
        device = miner_row(row)
        device |= {
            "temperature": device["temperature_max"],
            "weekly_revenue": None,
            "monthly_revenue": None,
            "total_revenue": None,
        }
        return Response({"success": True, "device": device})


class ClientAssetsApi(APIView):
    """GET /hosting/api/client/assets — {success, assets}."""

    @legacy(
        'Your assets: miners and online miners, hashrate now (`"<TH/s> TH/s"`, a string as in the original), '
        'the nominal power of the online miners (`"<W> W"`), per site. Revenue, profit and cost are null.',
        inline_serializer(
            "LegacyClientAssets",
            {
                "success": serializers.BooleanField(),
                "assets": inline_serializer(
                    "LegacyClientAssetsBody",
                    {
                        "total_devices": serializers.IntegerField(),
                        "active_devices": serializers.IntegerField(help_text="online"),
                        "total_hashrate": serializers.CharField(help_text="e.g. '150.0 TH/s'"),
                        "total_power": serializers.CharField(help_text="nominal power of the online miners, '3500 W'"),
                        "monthly_revenue": serializers.FloatField(allow_null=True),
                        "net_profit": serializers.FloatField(allow_null=True),
                        "monthly_cost": serializers.FloatField(allow_null=True),
                        "sites": serializers.ListField(child=serializers.DictField()),
                    },
                ),
            },
        ),
    )
    def get(self, request):
        figures = selectors.dashboard_figures(request.user, caller_miners(request))
        totals = figures["totals"]
        sites = [
            {
                "site_id": s["code"],
                "site_name": s["name"],
                "devices": s["miners"],
                "active_devices": s["online"],
                "hashrate": s["hashrate_ths"],
            }
            for s in figures["sites"]
        ]
        assets = {
            "total_devices": totals["miners"],
            "active_devices": totals["online"],
            "total_hashrate": f"{totals['hashrate_ths']:.1f} TH/s",
            "total_power": f"{totals['online_nominal_power_w']:.0f} W",
            "monthly_revenue": None,
            "net_profit": None,
            "monthly_cost": None,
            "sites": sites,
        }
        return Response({"success": True, "assets": assets})


class RevenueChartParams(serializers.Serializer):
    period = serializers.ChoiceField(choices=["7d", "30d"], default="7d")


class ClientRevenueChartApi(APIView):
    """GET /hosting/api/client/revenue-chart?period=7d|30d — {success, labels, data}."""

    @legacy(
        "The original's revenue chart, answered with what this product measures: `data` is your delivered "
        "hashrate per UTC day (TH/s, mean over the day, offline time counting 0), `labels` the days as MM-DD, "
        "`metric` = hashrate and `unit` = TH/s. No revenue is computed (no prices here).",
        inline_serializer(
            "LegacyClientRevenueChart",
            {
                "success": serializers.BooleanField(),
                "labels": serializers.ListField(child=serializers.CharField()),
                "data": serializers.ListField(child=serializers.FloatField()),
                "metric": serializers.CharField(),
                "unit": serializers.CharField(),
            },
        ),
        parameters=[OpenApiParameter("period", OpenApiTypes.STR, enum=["7d", "30d"], description="default 7d")],
    )
    def get(self, request):
        params = RevenueChartParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        slug = request.query_params.get("tenant", "")
        tenant_id = selectors.portal_view_get(request.user, slug).tenant.pk if slug else None
        points = hashrate_series(
            request.user, period=params.validated_data["period"], site_id=None, tenant_id=tenant_id, now=timezone.now()
        )
        return Response(
            {
                "success": True,
                "labels": [t.astimezone(dt.UTC).strftime("%m-%d") for t, _ in points],
                "data": [value for _, value in points],
                "metric": "hashrate",
                "unit": "TH/s",
            }
        )
