"""Telemetry reads for people (operators and customers): v1 and the legacy paths of SPEC §11.

Every view resolves what the caller named through telemetry.selectors, which asks tenants.scoping:
a site or miner outside the caller's scope answers 403 FORBIDDEN whether it exists or not.
"""

import datetime as dt
from types import SimpleNamespace

import orjson
from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from telemetry import selectors
from telemetry.selectors import COMPACT_FIELDS, LIVE_FIELDS, STATES, LiveFilters
from tenants import scoping

DEPRECATED = "Legacy path (SPEC §11): deprecated, never removed. "
ERRORS = {
    400: OpenApiResponse(description="INVALID_PARAMETER: malformed or out-of-bounds parameters"),
    401: OpenApiResponse(description="UNAUTHENTICATED: not signed in"),
    403: OpenApiResponse(description="FORBIDDEN: outside your scope (the same whether it exists or not)"),
}


class QueryFormatIsOurs(DefaultContentNegotiation):
    """`?format=compact` names this API's response shape, not one of DRF's renderers."""

    settings = SimpleNamespace(URL_FORMAT_OVERRIDE=None)


# --- shapes ---------------------------------------------------------------------------------------


class LiveRowSerializer(serializers.Serializer):
    """One miner's live state (v1 rows and the legacy paths use the same names)."""

    miner_id = serializers.CharField()
    zone = serializers.CharField(source=LIVE_FIELDS["zone"], allow_null=True)
    tenant = serializers.CharField(source=LIVE_FIELDS["tenant"])
    model = serializers.CharField()
    state = serializers.ChoiceField(choices=STATES)
    ts = serializers.DateTimeField(source=LIVE_FIELDS["ts"], allow_null=True, help_text="sample time of the last sample (UTC)")
    online = serializers.BooleanField(source=LIVE_FIELDS["online"], allow_null=True, help_text="what the last sample said")
    hashrate_5s_ghs = serializers.FloatField(source=LIVE_FIELDS["hashrate_5s_ghs"], allow_null=True)
    hashrate_ghs = serializers.FloatField(source=LIVE_FIELDS["hashrate_ghs"], allow_null=True, help_text="average since the miner started")
    temperature_max = serializers.FloatField(source=LIVE_FIELDS["temperature_max"], allow_null=True)
    temperature_avg = serializers.FloatField(source=LIVE_FIELDS["temperature_avg"], allow_null=True)
    frequency_avg = serializers.FloatField(source=LIVE_FIELDS["frequency_avg"], allow_null=True)
    fan_speeds = serializers.ListField(child=serializers.IntegerField(), source=LIVE_FIELDS["fan_speeds"], allow_null=True)
    uptime_seconds = serializers.IntegerField(source=LIVE_FIELDS["uptime_seconds"], allow_null=True)
    hardware_errors = serializers.IntegerField(source=LIVE_FIELDS["hardware_errors"], allow_null=True)
    pool_url = serializers.CharField(source=LIVE_FIELDS["pool_url"], allow_null=True)
    worker_name = serializers.CharField(source=LIVE_FIELDS["worker_name"], allow_null=True)
    error_message = serializers.CharField(source=LIVE_FIELDS["error_message"], allow_null=True)


class SummarySerializer(serializers.Serializer):
    miners = serializers.IntegerField()
    online = serializers.IntegerField()
    offline = serializers.IntegerField()
    unknown = serializers.IntegerField(help_text="no collector uploaded within stale: unmeasured, not down")
    hashrate_5s_ghs = serializers.FloatField(help_text="sum of hashrate_5s_ghs over online miners")
    temperature_max = serializers.FloatField(allow_null=True, help_text="hottest temperature_max among fresh samples")


class CompactLiveSerializer(serializers.Serializer):
    site_id = serializers.CharField()
    server_time = serializers.DateTimeField()
    stale_sec = serializers.IntegerField()
    count = serializers.IntegerField()
    summary = SummarySerializer()
    columns = inline_serializer(
        "LiveColumns",
        {name: serializers.ListField(child=serializers.JSONField(allow_null=True)) for name in COMPACT_FIELDS},
        help_text="one array per column, all of length `count`, in miner_id order",
    )


class LivePageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = LiveRowSerializer(many=True)


def _rows(qs, names=tuple(LIVE_FIELDS)) -> list[dict]:
    return selectors.live_rows(qs, names)


def _summary_from_columns(cols: dict, now: dt.datetime) -> dict:
    cutoff = selectors.stale_cutoff(now)
    counts = {s: 0 for s in STATES}
    hashrate, temp = 0.0, None
    for state, ts, h, t in zip(cols["state"], cols["ts"], cols["hashrate_5s_ghs"], cols["temperature_max"], strict=True):
        counts[state] += 1
        if state == selectors.ONLINE and h is not None:
            hashrate += h
        if t is not None and ts is not None and ts >= cutoff and (temp is None or t > temp):
            temp = t
    return {"miners": len(cols["state"]), **counts, "hashrate_5s_ghs": hashrate, "temperature_max": temp}


class LivePagination(CursorPagination):
    ordering = ("miner_id",)  # unique per site: a stable keyset
    page_size = 500
    max_page_size = 1000
    page_size_query_param = "limit"


# --- v1 -------------------------------------------------------------------------------------------


class TelemetryLiveApi(APIView):
    """GET /api/v1/telemetry/live — live state of one site's miners in the caller's scope."""

    content_negotiation_class = QueryFormatIsOurs

    class FilterSerializer(serializers.Serializer):
        site_id = serializers.CharField(max_length=64, help_text="Site.code")
        zone = serializers.CharField(required=False, max_length=64, help_text="zone code at the site")
        tenant = serializers.SlugField(required=False, max_length=64, help_text="tenant slug")
        state = serializers.ChoiceField(required=False, choices=STATES)
        min_temp = serializers.FloatField(required=False, min_value=-100, max_value=1000, help_text="temperature_max at or above")
        format = serializers.ChoiceField(required=False, choices=["json", "compact"], help_text="compact: the whole site as column arrays")
        limit = serializers.IntegerField(required=False, min_value=1, max_value=LivePagination.max_page_size)
        cursor = serializers.CharField(required=False)

    @extend_schema(
        parameters=[FilterSerializer],
        responses={
            200: PolymorphicProxySerializer("TelemetryLive", serializers=[LivePageSerializer, CompactLiveSerializer], resource_type_field_name=None),
            **ERRORS,
        },
        description="Rows (cursor-paginated by miner_id) or, with `format=compact`, the whole site as column arrays. "
        "State: online (last sample online and younger than stale), offline (last sample offline, or stale while the "
        "site's collectors upload), unknown (no collector of the site/zone uploaded within stale).",
    )
    def get(self, request):
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        p = params.validated_data
        user = request.user
        site = scoping.site_get(user, p["site_id"])
        filters = LiveFilters(
            zone=scoping.zone_get(user, site, p["zone"]) if "zone" in p else None,
            tenant=scoping.tenant_get(user, p["tenant"]) if "tenant" in p else None,
            state=p.get("state", ""),
            min_temp=p.get("min_temp"),
        )
        now = timezone.now()
        if p.get("format") == "compact":
            cols = selectors.live_columns(user, site, filters, now=now)
            body = {
                "site_id": site.code,
                "server_time": now,
                "stale_sec": settings.TELEMETRY_STALE_SEC,
                "count": len(cols["miner_id"]),
                "summary": _summary_from_columns(cols, now),
                "columns": cols,
            }
            # orjson: 5,000 rows serialize in about a millisecond, where json takes tens.
            return HttpResponse(orjson.dumps(body, option=orjson.OPT_UTC_Z), content_type="application/json")
        qs = selectors.live_values(selectors.live_for(user, site, filters, now=now))
        paginator = LivePagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(LiveRowSerializer(page, many=True).data)


class HistoryFilterSerializer(serializers.Serializer):
    miner_id = serializers.CharField(required=False, max_length=200, help_text="<site_id>/<miner_id> (or a miner_id with site_id)")
    site_id = serializers.CharField(required=False, max_length=64, help_text="Site.code: the site's buckets, summed over your miners")
    tier = serializers.ChoiceField(choices=list(selectors.TIERS), default="1m")
    from_ = serializers.DateTimeField(required=False, help_text="UTC; default: a tier-sized window before `to`")
    to = serializers.DateTimeField(required=False, help_text="UTC, exclusive; default now")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # `from` is a Python keyword
        return fields


class MinerHistoryFilterSerializer(HistoryFilterSerializer):
    miner_id = None  # in the path
    site_id = serializers.CharField(required=False, max_length=64, help_text="Site.code, when the miner_id is at several of your sites")


HISTORY_RESPONSE = {
    "tier": serializers.CharField(),
    "from": serializers.DateTimeField(),
    "to": serializers.DateTimeField(),
    "site_id": serializers.CharField(),
    "miner_id": serializers.CharField(allow_null=True),
    "points": serializers.ListField(
        child=serializers.DictField(),
        help_text="raw: one sample per point (ts, online, hashrate_5s_ghs, temperature_max, …); 1m/15m/daily per miner: "
        "bucket, samples, online_samples, hashrate_5s_avg, hashrate_5s_max, temperature_max, temperature_max_avg, "
        "frequency_avg, corrected, revision; per site: bucket, miners, samples, online_samples, hashrate_5s_ghs "
        "(sum of the miners' means), temperature_max, corrected",
    ),
}
HISTORY_DESCRIPTION = (
    "Longest range per request — miner: raw 1 day, 1m 7 days, 15m 92 days, daily 3660 days; "
    "site: 1m 6 hours, 15m 7 days, daily 366 days (raw is per miner only). Beyond: 400 INVALID_PARAMETER. "
    "Samples are attributed to the owner at sample time: a customer sees the time they owned the miner."
)


def _history(request, p: dict, *, miner=None, site=None) -> dict:
    tier = p["tier"]
    start, end = selectors.history_range(tier, per_site=miner is None, start=p.get("from"), end=p.get("to"))
    points = selectors.history(request.user, tier=tier, start=start, end=end, miner=miner, site=site)
    site = site or miner.site
    return {"tier": tier, "from": start, "to": end, "site_id": site.code, "miner_id": miner.miner_id if miner else None, "points": points}


class TelemetryHistoryApi(APIView):
    """GET /api/v1/telemetry/history — one miner's or one site's history from a tier."""

    @extend_schema(
        parameters=[HistoryFilterSerializer],
        responses={200: inline_serializer("TelemetryHistory", HISTORY_RESPONSE), **ERRORS},
        description=HISTORY_DESCRIPTION,
    )
    def get(self, request):
        params = HistoryFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        p = params.validated_data
        if "miner_id" not in p and "site_id" not in p:
            raise serializers.ValidationError({"miner_id": ["give miner_id (<site_id>/<miner_id>) or site_id"]})
        if "miner_id" in p:  # site_id beside it only says which site the miner is at
            miner = selectors.miner_get(request.user, p["miner_id"], site_code=p.get("site_id", ""))
            return Response(_history(request, p, miner=miner))
        return Response(_history(request, p, site=scoping.site_get(request.user, p["site_id"])))


# --- legacy (SPEC §11) ----------------------------------------------------------------------------


def _legacy(description: str, response, **kwargs):
    return extend_schema(deprecated=True, description=DEPRECATED + description, responses={200: response, **ERRORS}, tags=["legacy"], **kwargs)


SITE_ID_PARAM = OpenApiParameter("site_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="Site.code")
MINER_ID_PARAM = OpenApiParameter("miner_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="the edge's miner_id")
MINER_SITE_PARAM = OpenApiParameter("site_id", OpenApiTypes.STR, description="Site.code, when the miner_id is at several of your sites")


class LegacyLiveApi(APIView):
    """GET /api/collector/live/<site_id> — the whole site's live rows in one answer."""

    @_legacy(
        "Live state of every miner of the site you may see (not paginated; use /api/v1/telemetry/live).",
        inline_serializer("LegacyLive", {"success": serializers.BooleanField(), "site_id": serializers.CharField(), "count": serializers.IntegerField(), "miners": LiveRowSerializer(many=True)}),
        parameters=[SITE_ID_PARAM],
    )
    def get(self, request, site_id):
        site = scoping.site_get(request.user, site_id)
        miners = _rows(selectors.live_for(request.user, site))
        return Response({"success": True, "site_id": site.code, "count": len(miners), "miners": miners})


class LegacySummaryApi(APIView):
    """GET /api/collector/summary/<site_id> — a site's figures, from the caller's miners only."""

    @_legacy(
        "Counts per state, current hashrate and hottest temperature of the miners of the site you may see.",
        inline_serializer(
            "LegacySummary",
            {"success": serializers.BooleanField(), "site_id": serializers.CharField(), "summary": SummarySerializer(), "last_sample_at": serializers.DateTimeField(allow_null=True)},
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
        "Per-site and total figures over your scope; `ingest_24h` (upload receipts of the last 24 h) for operators, null for customers.",
        inline_serializer(
            "LegacyStats",
            {
                "success": serializers.BooleanField(),
                "totals": SummarySerializer(),
                "sites": inline_serializer("LegacyStatsSite", {"site_id": serializers.CharField(), **SummarySerializer().get_fields()}, many=True),
                "ingest_24h": inline_serializer(
                    "LegacyIngestStats",
                    {n: serializers.IntegerField() for n in ("uploads", "records", "accepted", "rejected", "duplicates")} | {"last": serializers.DateTimeField(allow_null=True)},
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
            if s["temperature_max"] is not None and (totals["temperature_max"] is None or s["temperature_max"] > totals["temperature_max"]):
                totals["temperature_max"] = s["temperature_max"]
        ingest = selectors.ingest_stats(request.user, since=now - dt.timedelta(hours=24))
        return Response({"success": True, "totals": totals, "sites": sites, "ingest_24h": ingest})


class LegacyMinerStatusApi(APIView):
    """GET /api/collector/miners/<miner_id>/status — one miner's state and last sample."""

    @_legacy(
        "One miner's derived state and last sample.",
        inline_serializer("LegacyMinerStatus", {"success": serializers.BooleanField(), "site_id": serializers.CharField(), "miner": LiveRowSerializer()}),
        parameters=[MINER_ID_PARAM, MINER_SITE_PARAM],
    )
    def get(self, request, miner_id):
        miner = selectors.miner_get(request.user, miner_id, site_code=request.query_params.get("site_id", ""))
        return Response({"success": True, "site_id": miner.site.code, "miner": selectors.miner_state(request.user, miner)})


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
                    {"site_id": serializers.CharField(), "name": serializers.CharField(), "timezone": serializers.CharField(), "miners": serializers.IntegerField()},
                    many=True,
                ),
            },
        ),
    )
    def get(self, request):
        counts = dict(scoping.miners_for(request.user).order_by().values_list("site_id").annotate(n=Count("pk")))
        sites = [
            {"site_id": code, "name": name, "timezone": tz, "miners": counts.get(pk, 0)}
            for pk, code, name, tz in scoping.sites_for(request.user).order_by("code").values_list("pk", "code", "name", "timezone")
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
        "Miners you may see, ordered by site and miner_id; read-only here (inventory changes go through the NOC console).",
        inline_serializer(
            "LegacyMiners",
            {"success": serializers.BooleanField(), "limit": serializers.IntegerField(), "offset": serializers.IntegerField(), "has_more": serializers.BooleanField(), "miners": OutputSerializer(many=True)},
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
        fields = ("site__code", "miner_id", "zone__code", "tenant__slug", "model", "nominal_hashrate_ths", "nominal_power_w", "state")
        rows = list(qs.values(*fields)[p["offset"] : p["offset"] + p["limit"] + 1])
        has_more = len(rows) > p["limit"]
        data = self.OutputSerializer(rows[: p["limit"]], many=True).data
        return Response({"success": True, "limit": p["limit"], "offset": p["offset"], "has_more": has_more, "miners": data})


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
        return Response({"success": True, **_history(request, p, miner=miner)})
