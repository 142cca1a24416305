"""The original application's telemetry read routes (SPEC §11), kept in their old shapes and
documented as deprecated; each reads through the same selectors as v1."""

import datetime as dt

from django.db.models import Count
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from telemetry import selectors
from telemetry.api_read import (
    HISTORY_DESCRIPTION,
    HISTORY_RESPONSE,
    LiveRowSerializer,
    MinerHistoryFilterSerializer,
    SummarySerializer,
    history_body,
    live_rows,
)
from telemetry.selectors import STATES
from tenants import scoping

DEPRECATED = "Legacy path (SPEC §11): deprecated, never removed. "
ERRORS = {
    400: OpenApiResponse(description="INVALID_PARAMETER: malformed or out-of-bounds parameters"),
    401: OpenApiResponse(description="UNAUTHENTICATED: not signed in"),
    403: OpenApiResponse(description="FORBIDDEN: outside your scope (the same whether it exists or not)"),
}


# --- legacy (SPEC §11) ----------------------------------------------------------------------------


def _legacy(description: str, response, **kwargs):
    return extend_schema(
        deprecated=True,
        description=DEPRECATED + description,
        responses={200: response, **ERRORS},
        tags=["legacy"],
        **kwargs,
    )


SITE_ID_PARAM = OpenApiParameter("site_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="Site.code")
MINER_ID_PARAM = OpenApiParameter(
    "miner_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="the edge's miner_id"
)
MINER_SITE_PARAM = OpenApiParameter(
    "site_id", OpenApiTypes.STR, description="Site.code, when the miner_id is at several of your sites"
)


class LegacyLiveApi(APIView):
    """GET /api/collector/live/<site_id> — the whole site's live rows in one answer."""

    @_legacy(
        "Live state of every miner of the site you may see (not paginated; use /api/v1/telemetry/live).",
        inline_serializer(
            "LegacyLive",
            {
                "success": serializers.BooleanField(),
                "site_id": serializers.CharField(),
                "count": serializers.IntegerField(),
                "miners": LiveRowSerializer(many=True),
            },
        ),
        parameters=[SITE_ID_PARAM],
    )
    def get(self, request, site_id):
        site = scoping.site_get(request.user, site_id)
        miners = live_rows(selectors.live_for(request.user, site))
        return Response({"success": True, "site_id": site.code, "count": len(miners), "miners": miners})


class LegacySummaryApi(APIView):
    """GET /api/collector/summary/<site_id> — a site's figures, from the caller's miners only."""

    @_legacy(
        "Counts per state, current hashrate and hottest temperature of the miners of the site you may see.",
        inline_serializer(
            "LegacySummary",
            {
                "success": serializers.BooleanField(),
                "site_id": serializers.CharField(),
                "summary": SummarySerializer(),
                "last_sample_at": serializers.DateTimeField(allow_null=True),
            },
        ),
        parameters=[SITE_ID_PARAM],
    )
    def get(self, request, site_id):
        site = scoping.site_get(request.user, site_id)
        summary = selectors.site_summary(request.user, site)
        last = summary.pop("last_sample_at")
        return Response({"success": True, "site_id": site.code, "summary": summary, "last_sample_at": last})


class LegacyStatsApi(APIView):
    """GET /api/collector/stats — figures per site over the caller's whole scope."""

    @_legacy(
        "Per-site and total figures over your scope; `ingest_24h` (upload receipts of the last 24 h) for "
        "operators, null for customers.",
        inline_serializer(
            "LegacyStats",
            {
                "success": serializers.BooleanField(),
                "totals": SummarySerializer(),
                "sites": inline_serializer(
                    "LegacyStatsSite",
                    {"site_id": serializers.CharField(), **SummarySerializer().get_fields()},
                    many=True,
                ),
                "ingest_24h": inline_serializer(
                    "LegacyIngestStats",
                    {
                        n: serializers.IntegerField()
                        for n in ("uploads", "records", "accepted", "rejected", "duplicates")
                    }
                    | {"last": serializers.DateTimeField(allow_null=True)},
                    allow_null=True,
                ),
            },
        ),
    )
    def get(self, request):
        now = timezone.now()
        sites = selectors.fleet_summary(request.user, now=now)
        totals = {"miners": 0, "online": 0, "offline": 0, "unknown": 0, "hashrate_5s_ghs": 0.0, "temperature_max": None}
        for s in sites:
            for k in ("miners", "online", "offline", "unknown", "hashrate_5s_ghs"):
                totals[k] += s[k]
            if s["temperature_max"] is not None and (
                totals["temperature_max"] is None or s["temperature_max"] > totals["temperature_max"]
            ):
                totals["temperature_max"] = s["temperature_max"]
        ingest = selectors.ingest_stats(request.user, since=now - dt.timedelta(hours=24))
        return Response({"success": True, "totals": totals, "sites": sites, "ingest_24h": ingest})


class LegacyMinerStatusApi(APIView):
    """GET /api/collector/miners/<miner_id>/status — one miner's state and last sample."""

    @_legacy(
        "One miner's derived state and last sample.",
        inline_serializer(
            "LegacyMinerStatus",
            {"success": serializers.BooleanField(), "site_id": serializers.CharField(), "miner": LiveRowSerializer()},
        ),
        parameters=[MINER_ID_PARAM, MINER_SITE_PARAM],
    )
    def get(self, request, miner_id):
        miner = selectors.miner_get(request.user, miner_id, site_code=request.query_params.get("site_id", ""))
        return Response(
            {"success": True, "site_id": miner.site.code, "miner": selectors.miner_state(request.user, miner)}
        )


class LegacySitesApi(APIView):
    """GET /api/sites — the sites the caller sees, with how many of their miners are there."""

    @_legacy(
        "Sites you may see; `miners` counts the miners there that you may see.",
        inline_serializer(
            "LegacySites",
            {
                "success": serializers.BooleanField(),
                "sites": inline_serializer(
                    "LegacySite",
                    {
                        "site_id": serializers.CharField(),
                        "name": serializers.CharField(),
                        "timezone": serializers.CharField(),
                        "miners": serializers.IntegerField(),
                    },
                    many=True,
                ),
            },
        ),
    )
    def get(self, request):
        counts = dict(scoping.miners_for(request.user).order_by().values_list("site_id").annotate(n=Count("pk")))
        sites = [
            {"site_id": code, "name": name, "timezone": tz, "miners": counts.get(pk, 0)}
            for pk, code, name, tz in scoping.sites_for(request.user)
            .order_by("code")
            .values_list("pk", "code", "name", "timezone")
        ]
        return Response({"success": True, "sites": sites})


class LegacyMinersApi(APIView):
    """GET /api/miners — the miners the caller sees (inventory and state), offset-paginated."""

    class FilterSerializer(serializers.Serializer):
        site_id = serializers.CharField(required=False, max_length=64)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=5000, default=1000)
        offset = serializers.IntegerField(required=False, min_value=0, default=0)

    @extend_schema_serializer(component_name="LegacyMiner")
    class OutputSerializer(serializers.Serializer):
        site_id = serializers.CharField(source="site__code")
        miner_id = serializers.CharField()
        zone = serializers.CharField(source="zone__code", allow_null=True)
        tenant = serializers.CharField(source="tenant__slug")
        model = serializers.CharField()
        nominal_hashrate_ths = serializers.DecimalField(max_digits=10, decimal_places=2, allow_null=True)
        nominal_power_w = serializers.IntegerField(allow_null=True)
        state = serializers.ChoiceField(choices=STATES)

    @_legacy(
        "Miners you may see, ordered by site and miner_id; read-only here "
        "(inventory changes go through the NOC console).",
        inline_serializer(
            "LegacyMiners",
            {
                "success": serializers.BooleanField(),
                "limit": serializers.IntegerField(),
                "offset": serializers.IntegerField(),
                "has_more": serializers.BooleanField(),
                "miners": OutputSerializer(many=True),
            },
        ),
        parameters=[FilterSerializer],
    )
    def get(self, request):
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        p = params.validated_data
        miners = scoping.miners_for(request.user)
        site_ids = None
        if "site_id" in p:
            site = scoping.site_get(request.user, p["site_id"])
            miners, site_ids = miners.filter(site=site), [site.pk]
        qs = selectors.miners_with_state(request.user, miners, site_ids=site_ids).order_by("site__code", "miner_id")
        fields = (
            "site__code",
            "miner_id",
            "zone__code",
            "tenant__slug",
            "model",
            "nominal_hashrate_ths",
            "nominal_power_w",
            "state",
        )
        rows = list(qs.values(*fields)[p["offset"] : p["offset"] + p["limit"] + 1])
        has_more = len(rows) > p["limit"]
        data = self.OutputSerializer(rows[: p["limit"]], many=True).data
        return Response(
            {"success": True, "limit": p["limit"], "offset": p["offset"], "has_more": has_more, "miners": data}
        )


class LegacyMinerTelemetryApi(APIView):
    """GET /api/miners/<miner_id>/telemetry — one miner's history (default: 1m buckets of the last 6 h)."""

    @_legacy(
        "One miner's history; same tiers and bounds as /api/v1/telemetry/history. " + HISTORY_DESCRIPTION,
        inline_serializer("LegacyMinerTelemetry", {"success": serializers.BooleanField(), **HISTORY_RESPONSE}),
        parameters=[MINER_ID_PARAM, MinerHistoryFilterSerializer],
    )
    def get(self, request, miner_id):
        params = MinerHistoryFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        p = params.validated_data
        miner = selectors.miner_get(request.user, miner_id, site_code=p.get("site_id", ""))
        return Response({"success": True, **history_body(request, p, miner=miner)})
