"""The original application's telemetry read routes (SPEC §11), kept in their old shapes and
documented as deprecated; each reads through the same selectors as v1."""

import datetime as dt

from django.db.models import Count, F
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

from core.api.pagination import offset_field, page_number_field
from telemetry import legacy_shapes as shapes
from telemetry import selectors, selectors_history
from telemetry.api_read import (
    HISTORY_DESCRIPTION,
    HISTORY_RESPONSE,
    LiveRowSerializer,
    MinerHistoryFilterSerializer,
    SummarySerializer,
    history_body,
)
from telemetry.selectors import STATES
from tenants import scoping
from tenants.models import Miner

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


class OriginalPageIn(serializers.Serializer):
    """The original's paging of live rows (Flask-SQLAlchemy paginate)."""

    page = page_number_field()
    per_page = serializers.IntegerField(required=False, min_value=1, max_value=5000, default=50)
    online_only = serializers.CharField(required=False, default="false", max_length=8)


def _page(request, per_page: int) -> dict:
    given = {name: value for name, value in request.query_params.items() if value != ""}  # empty = absent
    p = OriginalPageIn(data={"per_page": per_page, **given})
    p.is_valid(raise_exception=True)
    return {**p.validated_data, "online_only": p.validated_data["online_only"].lower() == "true"}


_ORIGINAL_SITE_PARAM = OpenApiParameter(
    "site_id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="the original's integer site id (a `legacy_id` alias, else the pk), or Site.code / an alias",
)
_PAGE = inline_serializer(
    "LegacyPagination",
    {n: serializers.IntegerField() for n in ("page", "per_page", "total", "pages")},
)


class LegacyLiveApi(APIView):
    """GET /api/collector/live/<site_id> — the original's live page: {success, data: {miners, pagination}}."""

    per_page = 50
    shape = staticmethod(shapes.live_row)

    @_legacy(
        "The original application's shape (TH/s, uptime_hours, naive-UTC times, `data` wrapper), paginated "
        "by page/per_page (default 50), `online_only=true` for online miners. This project's rows: "
        "GET /api/v1/telemetry/live.",
        inline_serializer(
            "LegacyLive",
            {
                "success": serializers.BooleanField(),
                "data": inline_serializer(
                    "LegacyLiveData",
                    {"miners": serializers.ListField(child=serializers.DictField()), "pagination": _PAGE},
                ),
            },
        ),
        parameters=[_ORIGINAL_SITE_PARAM, OriginalPageIn],
    )
    def get(self, request, site_id):
        p = _page(request, self.per_page)
        site = shapes.legacy_site_get(request.user, site_id)
        qs = self.order(selectors.live_for(request.user, site))
        if p["online_only"]:
            qs = qs.filter(lv__online=True)
        return Response({"success": True, "data": shapes.paginated(qs, p["page"], p["per_page"], self.shape)})

    @staticmethod
    def order(qs):
        return qs


class LegacyMonitorLatestApi(LegacyLiveApi):
    """GET /api/collector/monitor/sites/<site_id>/miners/latest — the original monitor page's list:
    newest first, 100 a page."""

    per_page = 100
    shape = staticmethod(shapes.latest_row)

    @staticmethod
    def order(qs):
        return qs.order_by(F("lv__received_at").desc(nulls_last=True), "miner_id")


class OriginalHistoryIn(serializers.Serializer):
    metric = serializers.ChoiceField(choices=shapes.HISTORY_METRICS, required=False, default="hashrate_ghs")
    hours = serializers.IntegerField(required=False, min_value=1, max_value=87840, default=24)
    layer = serializers.ChoiceField(choices=list(shapes.HISTORY_LAYERS), required=False)


class LegacyMonitorHistoryApi(APIView):
    """GET /api/collector/monitor/sites/<site_id>/miners/<miner_id>/history — one metric of one
    miner as the original monitor page charted it."""

    @_legacy(
        "metric (hashrate_ghs, temperature_avg, temperature_max, fan_speed_avg, power_consumption), hours "
        "(24), layer (raw / history / daily; default: raw up to 24 h, the 15-minute rollup up to 60 days, "
        "daily beyond): {success, data: {miner_id, site_id, metric, hours, layer, points: [{timestamp, value}], "
        "count}}. Power is not measured here (no points); raw is limited to 1 day.",
        OpenApiTypes.OBJECT,
        parameters=[_ORIGINAL_SITE_PARAM, MINER_ID_PARAM, OriginalHistoryIn],
    )
    def get(self, request, site_id, miner_id):
        p = OriginalHistoryIn(data=request.query_params)
        p.is_valid(raise_exception=True)
        f = p.validated_data
        site = shapes.legacy_site_get(request.user, site_id)
        miner = selectors.miner_get(request.user, miner_id, site_code=site.code)
        layer = shapes.history_layer(f["hours"], f.get("layer", ""))
        tier, name = shapes.HISTORY_LAYERS[layer]
        now = timezone.now()
        start, end = selectors_history.history_range(
            tier, per_site=False, start=now - dt.timedelta(hours=f["hours"]), end=now
        )
        rows = selectors_history.history(request.user, tier=tier, start=start, end=end, miner=miner)
        points = shapes.history_points(rows, tier=tier, metric=f["metric"])
        data = {
            "miner_id": miner.miner_id,
            "site_id": shapes.legacy_site_id(site),
            "metric": f["metric"],
            "hours": f["hours"],
            "layer": name,
            "points": points,
            "count": len(points),
        }
        return Response({"success": True, "data": data})


class LegacySummaryApi(APIView):
    """GET /api/collector/summary/<site_id> — the original's `data` figures, and this project's
    `summary` beside them (no key of one is a key of the other)."""

    @_legacy(
        "`data`: the original's figures (TH/s, °C rounded to 0.1, online_rate in %); `site_id`, `summary`, "
        "`last_sample_at`: this project's. Counts the miners of the site you may see.",
        inline_serializer(
            "LegacySummary",
            {
                "success": serializers.BooleanField(),
                "data": inline_serializer(
                    "LegacySummaryData",
                    {
                        **{n: serializers.IntegerField() for n in ("total_miners", "online_miners", "offline_miners")},
                        **{
                            n: serializers.FloatField()
                            for n in ("total_hashrate_ths", "avg_temperature", "max_temperature", "online_rate")
                        },
                    },
                ),
                "site_id": serializers.CharField(),
                "summary": SummarySerializer(),
                "last_sample_at": serializers.DateTimeField(allow_null=True),
            },
        ),
        parameters=[_ORIGINAL_SITE_PARAM],
    )
    def get(self, request, site_id):
        site = shapes.legacy_site_get(request.user, site_id)
        summary = selectors.site_summary(request.user, site)
        data = shapes.summary(summary)
        last = summary.pop("last_sample_at")
        summary.pop("temperature_avg")
        return Response(
            {"success": True, "data": data, "site_id": site.code, "summary": summary, "last_sample_at": last}
        )


def _totals(sites: list[dict]) -> dict:
    totals = {"miners": 0, "online": 0, "offline": 0, "unknown": 0, "hashrate_5s_ghs": 0.0, "temperature_max": None}
    for s in sites:
        for k in ("miners", "online", "offline", "unknown", "hashrate_5s_ghs"):
            totals[k] += s[k]
        if s["temperature_max"] is not None and (
            totals["temperature_max"] is None or s["temperature_max"] > totals["temperature_max"]
        ):
            totals["temperature_max"] = s["temperature_max"]
    return totals


_STATS_SITE = inline_serializer(
    "TelemetryStatsSite", {"site_id": serializers.CharField(), **SummarySerializer().get_fields()}, many=True
)
_INGEST = inline_serializer(
    "LegacyIngestStats",
    {n: serializers.IntegerField() for n in ("uploads", "records", "accepted", "rejected", "duplicates")}
    | {"last": serializers.DateTimeField(allow_null=True)},
    allow_null=True,
)


class TelemetryStatsApi(APIView):
    """GET /api/v1/telemetry/stats — figures per site over the caller's whole scope (this project's
    shape, which /api/collector/stats answered before it went back to the original's)."""

    @extend_schema(
        description="Per-site and total figures over your scope; `ingest_24h` (upload receipts of the last "
        "24 h) for operators, null for customers.",
        responses={
            200: inline_serializer(
                "TelemetryStats",
                {
                    "success": serializers.BooleanField(),
                    "totals": SummarySerializer(),
                    "sites": _STATS_SITE,
                    "ingest_24h": _INGEST,
                },
            ),
            **ERRORS,
        },
    )
    def get(self, request):
        now = timezone.now()
        sites = selectors.fleet_summary(request.user, now=now)
        ingest = selectors.ingest_stats(request.user, since=now - dt.timedelta(hours=24))
        return Response({"success": True, "totals": _totals(sites), "sites": sites, "ingest_24h": ingest})


class LegacyStatsApi(APIView):
    """GET /api/collector/stats — the original's fleet figures: `sites` keyed by integer site id."""

    @_legacy(
        "The original application's shape: totals, and `sites` keyed by the integer site id "
        "(`legacy_id` alias, else pk) with TH/s and `last_upload` as `YYYY-MM-DD HH:MM` (UTC). "
        "`active_collectors`, `last_upload` and `active_alerts` for operators only (null for customers). "
        "This project's shape: GET /api/v1/telemetry/stats.",
        inline_serializer(
            "LegacyStats",
            {
                "success": serializers.BooleanField(),
                "total_sites": serializers.IntegerField(),
                "active_collectors": serializers.IntegerField(allow_null=True),
                "total_miners": serializers.IntegerField(),
                "total_online": serializers.IntegerField(),
                "active_alerts": serializers.IntegerField(allow_null=True),
                "sites": serializers.DictField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request):
        now = timezone.now()
        sites = selectors.fleet_summary(request.user, now=now, with_pk=True)
        uploads = selectors.site_uploads(request.user, now=now)
        last, active = uploads if uploads is not None else ({}, None)
        ids = shapes.legacy_site_ids(s["pk"] for s in sites)
        return Response(
            {
                "success": True,
                "total_sites": len(sites),
                "active_collectors": active,
                "total_miners": sum(s["miners"] for s in sites),
                "total_online": sum(s["online"] for s in sites),
                "active_alerts": self.active_alerts(request) if uploads is not None else None,
                "sites": {str(ids[s["pk"]]): shapes.stats_site(s, last.get(s["pk"])) for s in sites},
            }
        )

    def active_alerts(self, request) -> int | None:
        """Open alerts in the caller's scope; alerts live on a higher floor (hosting), which
        routes this path through its subclass."""
        return None


class LegacyMinerStatusApi(APIView):
    """GET /api/collector/miners/<miner_id>/status — told apart by what the client sends: digits
    and no `site_id` (the original's miner page, an integer miner id) → the original's shape;
    an edge miner_id (optionally with ?site_id=) → this project's {success, site_id, miner}."""

    @_legacy(
        "An integer id without ?site_id= is the original's miner id (here the miner's database id) and "
        "answers the original shape {success, miner, performance, pool, boards, revenue, history_24h} "
        "(TH/s; what this cloud does not measure is null). Otherwise the edge's miner_id: "
        "{success, site_id, miner} with this project's live row.",
        inline_serializer(
            "LegacyMinerStatus",
            {"success": serializers.BooleanField(), "site_id": serializers.CharField(), "miner": LiveRowSerializer()},
        ),
        parameters=[MINER_ID_PARAM, MINER_SITE_PARAM],
    )
    def get(self, request, miner_id):
        site_code = request.query_params.get("site_id", "")
        if miner_id.isdigit() and len(miner_id) < 19 and not site_code:
            return Response(self._original(request, int(miner_id)))
        miner = selectors.miner_get(request.user, miner_id, site_code=site_code)
        return Response(
            {"success": True, "site_id": miner.site.code, "miner": selectors.miner_state(request.user, miner)}
        )

    @staticmethod
    def _original(request, pk: int) -> dict:
        now = timezone.now()
        miner = scoping.object_get(scoping.miners_for(request.user).select_related("site"), pk)
        rows = shapes.original_rows(
            selectors.live_for(request.user, miner.site, now=now, miners=Miner.objects.filter(pk=miner.pk))
        )
        points = selectors_history.history(
            request.user, tier="1m", start=now - dt.timedelta(hours=24), end=now, miner=miner
        )
        return shapes.miner_status(
            miner=miner, row=rows[0] if rows else {}, site_name=miner.site.name, points=points, now=now
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
        offset = offset_field()

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
