"""/api/v1/hosting/downtime — downtime intervals and the SLA figures of a period, in your scope,
through hosting.selectors.downtime (definitions: docs/DOWNTIME.md)."""

import datetime as dt

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import PAGE_PARAMETERS, PageSchema, paginated
from hosting.api.common import ERRORS, valid
from hosting.definitions import DEFINITIONS_VERSION
from hosting.selectors.downtime import CAUSES, downtime_intervals_list, downtime_summary
from telemetry.selectors import miner_get
from tenants import scoping

MAX_PERIOD = dt.timedelta(days=366)


class PeriodIn(serializers.Serializer):
    from_ = serializers.DateTimeField(help_text="UTC, inclusive")
    to = serializers.DateTimeField(help_text="UTC, exclusive; at most 366 days after `from`")
    site_id = serializers.CharField(required=False, max_length=64)
    tenant = serializers.CharField(required=False, max_length=64, help_text="Tenant.slug")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # `from` is a Python keyword
        return fields

    def validate(self, data):
        if data["to"] <= data["from"]:
            raise serializers.ValidationError({"to": ["must be after from"]})
        if data["to"] - data["from"] > MAX_PERIOD:
            raise serializers.ValidationError({"to": ["a period spans at most 366 days"]})
        return data


class IntervalsIn(PeriodIn):
    miner_id = serializers.CharField(required=False, max_length=128)
    cause = serializers.ChoiceField(choices=CAUSES, required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    cursor = serializers.CharField(required=False, allow_blank=True)


class IntervalOut(serializers.Serializer):
    id = serializers.IntegerField()
    site_id = serializers.CharField(source="site.code")
    miner_id = serializers.CharField(source="miner.miner_id")
    tenant = serializers.CharField(source="tenant.slug", help_text="the owner at the time")
    cause = serializers.CharField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True, help_text="null: still open")
    command_id = serializers.IntegerField(allow_null=True)
    maintenance_id = serializers.IntegerField(allow_null=True)
    evidence = serializers.DictField()


def _scope_args(user, p: dict) -> dict:
    return {
        "site": scoping.site_get(user, p["site_id"]) if p.get("site_id") else None,
        "tenant": scoping.tenant_get(user, p["tenant"]) if p.get("tenant") else None,
    }


class DowntimeIntervalListApi(APIView):
    """GET: intervals overlapping [from, to) in your scope, oldest first (filters site_id, tenant,
    miner_id, cause; cursor pagination). Not clipped to the period."""

    pagination_class = PageSchema  # the schema's page shape; the view answers with `paginated`

    @extend_schema(parameters=[IntervalsIn, *PAGE_PARAMETERS], responses={200: IntervalOut(many=True), **ERRORS})
    def get(self, request):
        p = valid(IntervalsIn, request.query_params)
        args = _scope_args(request.user, p)
        site = args["site"]
        miner = (
            miner_get(request.user, p["miner_id"], site_code=site.code if site else "") if p.get("miner_id") else None
        )
        qs = downtime_intervals_list(request.user, start=p["from"], end=p["to"], miner=miner, **args)
        if p.get("cause"):
            qs = qs.filter(cause=p["cause"])
        return paginated(
            request, qs, lambda rows: IntervalOut(rows, many=True).data, ordering=("started_at", "id"), page_size=500
        )


SUMMARY = inline_serializer(
    "DowntimeSummary",
    {
        "from": serializers.DateTimeField(),
        "to": serializers.DateTimeField(),
        "definitions": serializers.CharField(),
        "miners": serializers.IntegerField(),
        "period_minutes": serializers.FloatField(),
        "measured_minutes": serializers.FloatField(),
        "unmeasured_minutes": serializers.FloatField(),
        "planned_minutes": serializers.FloatField(),
        "unplanned_minutes": serializers.FloatField(),
        "downtime_minutes": serializers.DictField(child=serializers.FloatField(), help_text="by cause"),
        "availability_pct": serializers.FloatField(allow_null=True, help_text="measured time only"),
        "uptime_pct": serializers.FloatField(allow_null=True),
        "per_miner": serializers.ListField(child=serializers.DictField()),
    },
)


class DowntimeSummaryApi(APIView):
    """GET: the SLA figures of [from, to) in your scope (filters site_id, tenant): minutes by cause,
    measured and unmeasured time, availability over measured time only, and per (miner, owner)."""

    @extend_schema(parameters=[PeriodIn], responses={200: SUMMARY, **ERRORS})
    def get(self, request):
        p = valid(PeriodIn, request.query_params)
        s = downtime_summary(request.user, start=p["from"], end=p["to"], **_scope_args(request.user, p))
        body = {k: v for k, v in s.items() if k not in ("start", "end", "per_miner")}
        body["per_miner"] = [
            {
                "miner_id": m.miner_id,
                "site_id": m.site,
                "period_minutes": round(m.period_minutes, 3),
                "measured_minutes": round(m.measured, 3),
                "unmeasured_minutes": m.unmeasured,
                "downtime_minutes": m.minutes,
                "availability_pct": m.availability_pct,
            }
            for m in s["per_miner"]
        ]
        return Response({"from": s["start"], "to": s["end"], "definitions": DEFINITIONS_VERSION, **body})
