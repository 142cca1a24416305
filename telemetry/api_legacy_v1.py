"""The original application's /api/v1/telemetry… routes and /api/sites/<id>/miners in their
shapes (docs/COMPATIBILITY.md), over the same selectors as this project's v1.

/api/v1/telemetry/live and /history serve both clients, told apart by what they send:
- history: the original always sent `start` and `end` (and maybe `resolution`); this project's
  client sends `from`/`to`/`tier`. Any of start, end, resolution → the original's shape.
- live: the original sent `site_id` (its numeric id, an alias here), `miner_id`, `online`, `limit`,
  or nothing; this project's client always sends a site code and may send format, state, zone,
  tenant, min_temp, cursor. The original's shape when `online` or `miner_id` is given, when
  `site_id` is missing but `limit` is given, or when `site_id` is all digits and no parameter
  only this API has is given (a site whose code is all digits gets this project's shape by adding
  `format=json`). A request with no parameter at all keeps this API's 400 (site_id required)."""

import datetime as dt

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import InvalidParameter
from telemetry import legacy_v1_shapes as shapes
from telemetry import selectors
from telemetry.api_read import history_body
from tenants import scoping

NEW_LIVE_ONLY = {"format", "state", "zone", "tenant", "min_temp", "cursor"}
ORIGINAL_HISTORY = {"start", "end", "resolution"}


def original_live(query) -> bool:
    if "online" in query or "miner_id" in query:
        return True
    if "site_id" not in query:  # with nothing at all, this API's 400 (site_id required) stands
        return "limit" in query
    return query["site_id"].isdigit() and not NEW_LIVE_ONLY & set(query)


def original_history(query) -> bool:
    return bool(ORIGINAL_HISTORY & set(query))


def _valid(serializer_class, data) -> dict:
    s = serializer_class(data=data)
    s.is_valid(raise_exception=True)
    return s.validated_data


class LiveIn(serializers.Serializer):
    site_id = serializers.CharField(required=False, max_length=64, help_text="Site.code or alias (original id)")
    miner_id = serializers.CharField(required=False, max_length=128)
    online = serializers.CharField(required=False, max_length=8, help_text="true: online miners only")
    limit = serializers.IntegerField(required=False, min_value=1, default=1000)


class HistoryIn(serializers.Serializer):
    site_id = serializers.CharField(max_length=64)
    miner_id = serializers.CharField(required=False, max_length=128)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    resolution = serializers.ChoiceField(choices=["auto", *shapes.RESOLUTION_TIER], default="auto")


def live_body(request) -> dict:
    p = _valid(LiveIn, request.query_params)
    site = scoping.site_get(request.user, p["site_id"]) if "site_id" in p else None
    qs = selectors.live_in_scope(
        request.user, site=site, miner_id=p.get("miner_id", ""), online_only=p.get("online", "").lower() == "true"
    )
    miners = [shapes.live_miner(row) for row in selectors.live_rows_with_site(qs[: min(p["limit"], 5000)])]
    return {"miners": miners, "count": len(miners), "_meta": shapes.meta(unit_definitions=shapes.UNITS)}


def series_body(request, p: dict, *, miner=None, site=None) -> dict:
    start, end = p["start"], p["end"]
    if start >= end:
        raise InvalidParameter("start must be before end", field="start")
    tier = shapes.history_tier(p["resolution"], start, end, per_site=miner is None)
    body = history_body(request, {"tier": tier, "from": start, "to": end}, miner=miner, site=site)
    return shapes.history(body, p["resolution"])


def live_original(request) -> dict | None:
    """The original's {miners, count, _meta} when its request asks for it, else None."""
    return live_body(request) if original_live(request.query_params) else None


def history_original(request) -> dict | None:
    """The original's {series, _meta} for start/end/resolution, else None."""
    if not original_history(request.query_params):
        return None
    p = _valid(HistoryIn, request.query_params)
    site = scoping.site_get(request.user, p["site_id"])
    if "miner_id" in p:
        return series_body(request, p, miner=selectors.miner_get(request.user, p["miner_id"], site_code=site.code))
    return series_body(request, p, site=site)


class SiteIn(serializers.Serializer):
    site_id = serializers.CharField(max_length=64)


@extend_schema(deprecated=True, parameters=[SiteIn], responses=OpenApiTypes.OBJECT, tags=["legacy"])
class LegacySiteSummaryApi(APIView):
    """GET /api/v1/telemetry/site-summary?site_id= — the site's figures over the miners you may see."""

    def get(self, request):
        site = scoping.site_get(request.user, _valid(SiteIn, request.query_params)["site_id"])
        return Response(shapes.site_summary(site.code, selectors.site_summary(request.user, site)))


class MinerIn(serializers.Serializer):
    include_history = serializers.CharField(required=False, max_length=8, help_text="true: the last 24 h too")
    site_id = serializers.CharField(required=False, max_length=64, help_text="when the miner_id is at several sites")


@extend_schema(deprecated=True, parameters=[MinerIn], responses=OpenApiTypes.OBJECT, tags=["legacy"])
class LegacyMinerTelemetryV1Api(APIView):
    """GET /api/v1/telemetry/miner/<miner_id>[?include_history=true] — {miner, _meta[, history_24h]}."""

    def get(self, request, miner_id):
        p = _valid(MinerIn, request.query_params)
        miner = selectors.miner_get(request.user, miner_id, site_code=p.get("site_id", ""))
        qs = selectors.live_in_scope(request.user, site=miner.site, miner_id=miner.miner_id)
        (row,) = selectors.live_rows_with_site(qs)
        body = {"miner": shapes.live_miner(row), "_meta": shapes.meta()}
        if p.get("include_history", "").lower() == "true":
            end = dt.datetime.now(dt.UTC)
            window = {"start": end - dt.timedelta(hours=24), "end": end, "resolution": "5min"}
            body["history_24h"] = series_body(request, window, miner=miner)
        return Response(body)


@extend_schema(deprecated=True, responses=OpenApiTypes.OBJECT, tags=["legacy"])
class LegacySiteMinersApi(APIView):
    """GET /api/sites/<site_id>/miners — {miners: [{id, name, ip_encryption_mode, …}], total}: the
    site's miners you may see (customers: their own). This cloud never stores a miner's IP: the
    mode is 3 (E2EE: only the collector knows it)."""

    def get(self, request, site_id):
        site = scoping.site_get(request.user, site_id)
        rows = selectors.live_in_scope(request.user, site=site).values("miner_id", "model", "state", "zone__code")
        miners = [
            {
                "id": r["miner_id"],
                "name": r["miner_id"],
                "model": r["model"],
                "zone": r["zone__code"],
                "state": r["state"],
                "ip_encryption_mode": 3,
            }
            for r in rows
        ]
        return Response({"miners": miners, "total": len(miners)})
