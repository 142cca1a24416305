"""Telemetry reads for people (operators and customers): v1 and the legacy paths of SPEC §11.

Every view resolves what the caller named through telemetry.selectors, which asks tenants.scoping:
a site or miner outside the caller's scope answers 403 FORBIDDEN whether it exists or not.
"""

import datetime as dt
from types import SimpleNamespace

import orjson
from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import MAX_PAGE_SIZE, paginated
from telemetry import selectors, selectors_history
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
    ts = serializers.DateTimeField(
        source=LIVE_FIELDS["ts"], allow_null=True, help_text="sample time of the last sample (UTC)"
    )
    online = serializers.BooleanField(
        source=LIVE_FIELDS["online"], allow_null=True, help_text="what the last sample said"
    )
    hashrate_5s_ghs = serializers.FloatField(source=LIVE_FIELDS["hashrate_5s_ghs"], allow_null=True)
    hashrate_ghs = serializers.FloatField(
        source=LIVE_FIELDS["hashrate_ghs"], allow_null=True, help_text="average since the miner started"
    )
    temperature_max = serializers.FloatField(source=LIVE_FIELDS["temperature_max"], allow_null=True)
    temperature_avg = serializers.FloatField(source=LIVE_FIELDS["temperature_avg"], allow_null=True)
    frequency_avg = serializers.FloatField(source=LIVE_FIELDS["frequency_avg"], allow_null=True)
    fan_speeds = serializers.ListField(
        child=serializers.IntegerField(), source=LIVE_FIELDS["fan_speeds"], allow_null=True
    )
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


def live_rows(qs, names=tuple(LIVE_FIELDS)) -> list[dict]:
    return selectors.live_rows(qs, names)


def _summary_from_columns(cols: dict, now: dt.datetime) -> dict:
    cutoff = selectors.stale_cutoff(now)
    counts = dict.fromkeys(STATES, 0)
    hashrate, temp = 0.0, None
    for state, ts, h, t in zip(
        cols["state"], cols["ts"], cols["hashrate_5s_ghs"], cols["temperature_max"], strict=True
    ):
        counts[state] += 1
        if state == selectors.ONLINE and h is not None:
            hashrate += h
        if t is not None and ts is not None and ts >= cutoff and (temp is None or t > temp):
            temp = t
    return {"miners": len(cols["state"]), **counts, "hashrate_5s_ghs": hashrate, "temperature_max": temp}


class OriginalLiveParams(serializers.Serializer):
    """The original application's own parameters of this path (telemetry.api_legacy_v1.LiveIn): with one of
    them (or `limit` without site_id, or its numeric site id) the answer is the original's {miners, count, _meta}."""

    miner_id = serializers.CharField(required=False, max_length=128, help_text="the original's request: one miner")
    online = serializers.CharField(required=False, max_length=8, help_text="the original's request: true = online only")


LIVE_ORIGINAL = inline_serializer(
    "TelemetryLiveOriginal",
    {
        "miners": serializers.ListField(child=serializers.DictField()),
        "count": serializers.IntegerField(),
        "_meta": serializers.DictField(),
    },
)
LIVE_ORDERING = ("miner_id",)  # unique per site: a stable keyset
LIVE_PAGE_SIZE = 500


# --- v1 -------------------------------------------------------------------------------------------


class TelemetryLiveApi(APIView):
    """GET /api/v1/telemetry/live — live state of one site's miners in the caller's scope."""

    content_negotiation_class = QueryFormatIsOurs
    # Set by telemetry.urls_read: the original application's answer (request → body), or None
    # when the request is this API's (telemetry.api_legacy_v1 tells them apart).
    original_shape = None

    class FilterSerializer(serializers.Serializer):
        site_id = serializers.CharField(
            required=False,
            max_length=64,
            help_text="Site.code; required, except in the original application's request "
            "(limit, online or miner_id without it, or its numeric site id)",
        )
        zone = serializers.CharField(required=False, max_length=64, help_text="zone code at the site")
        tenant = serializers.SlugField(required=False, max_length=64, help_text="tenant slug")
        state = serializers.ChoiceField(required=False, choices=STATES)
        min_temp = serializers.FloatField(
            required=False, min_value=-100, max_value=1000, help_text="temperature_max at or above"
        )
        format = serializers.ChoiceField(
            required=False, choices=["json", "compact"], help_text="compact: the whole site as column arrays"
        )
        limit = serializers.IntegerField(
            required=False,
            min_value=1,
            help_text=f"rows per page, at most {MAX_PAGE_SIZE} (the original's request: miners, at most 5,000)",
        )
        cursor = serializers.CharField(required=False, allow_blank=True)

    @extend_schema(
        parameters=[FilterSerializer, OriginalLiveParams],
        responses={
            200: PolymorphicProxySerializer(
                "TelemetryLive",
                serializers=[LivePageSerializer, CompactLiveSerializer, LIVE_ORIGINAL],
                resource_type_field_name=None,
            ),
            **ERRORS,
        },
        description="Rows (cursor-paginated by miner_id) or, with `format=compact`, the whole site as column arrays. "
        "State: online (last sample online and younger than stale), offline (last sample offline, or stale while the "
        "site's collectors upload), unknown (no collector of the site/zone uploaded within stale).",
    )
    def get(self, request):
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)  # in the original's request too: `?miner_id=x&state=2` is a 400
        if self.original_shape is not None and (original := self.original_shape(request)) is not None:
            return Response(original)
        p = params.validated_data
        if "site_id" not in p:
            raise serializers.ValidationError({"site_id": ["This field is required."]})
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
        return paginated(
            request,
            qs,
            lambda page: LiveRowSerializer(page, many=True).data,
            ordering=LIVE_ORDERING,
            page_size=LIVE_PAGE_SIZE,
        )


class HistoryFilterSerializer(serializers.Serializer):
    miner_id = serializers.CharField(
        required=False, max_length=200, help_text="<site_id>/<miner_id> (or a miner_id with site_id)"
    )
    site_id = serializers.CharField(
        required=False, max_length=64, help_text="Site.code: the site's buckets, summed over your miners"
    )
    tier = serializers.ChoiceField(choices=list(selectors_history.TIERS), default="1m")
    from_ = serializers.DateTimeField(required=False, help_text="UTC; default: a tier-sized window before `to`")
    to = serializers.DateTimeField(required=False, help_text="UTC, exclusive; default now")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # `from` is a Python keyword
        return fields


class MinerHistoryFilterSerializer(HistoryFilterSerializer):
    miner_id = None  # in the path
    site_id = serializers.CharField(
        required=False, max_length=64, help_text="Site.code, when the miner_id is at several of your sites"
    )


HISTORY_RESPONSE = {
    "tier": serializers.CharField(),
    "from": serializers.DateTimeField(),
    "to": serializers.DateTimeField(),
    "site_id": serializers.CharField(),
    "miner_id": serializers.CharField(allow_null=True),
    "points": serializers.ListField(
        child=serializers.DictField(),
        help_text="raw: one sample per point (ts, online, hashrate_5s_ghs, temperature_max, …); "
        "1m/15m/daily per miner: "
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


def history_body(request, p: dict, *, miner=None, site=None) -> dict:
    tier = p["tier"]
    start, end = selectors_history.history_range(tier, per_site=miner is None, start=p.get("from"), end=p.get("to"))
    points = selectors_history.history(request.user, tier=tier, start=start, end=end, miner=miner, site=site)
    site = site or miner.site
    return {
        "tier": tier,
        "from": start,
        "to": end,
        "site_id": site.code,
        "miner_id": miner.miner_id if miner else None,
        "points": points,
    }


class TelemetryHistoryApi(APIView):
    """GET /api/v1/telemetry/history — one miner's or one site's history from a tier."""

    original_shape = None  # as TelemetryLiveApi's

    @extend_schema(
        parameters=[HistoryFilterSerializer],
        responses={200: inline_serializer("TelemetryHistory", HISTORY_RESPONSE), **ERRORS},
        description=HISTORY_DESCRIPTION,
    )
    def get(self, request):
        if self.original_shape is not None and (original := self.original_shape(request)) is not None:
            return Response(original)
        params = HistoryFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        p = params.validated_data
        if "miner_id" not in p and "site_id" not in p:
            raise serializers.ValidationError({"miner_id": ["give miner_id (<site_id>/<miner_id>) or site_id"]})
        if "miner_id" in p:  # site_id beside it only says which site the miner is at
            miner = selectors.miner_get(request.user, p["miner_id"], site_code=p.get("site_id", ""))
            return Response(history_body(request, p, miner=miner))
        return Response(history_body(request, p, site=scoping.site_get(request.user, p["site_id"])))
