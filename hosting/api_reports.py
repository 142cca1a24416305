"""SLA reports over the API (SPEC §9): GET /api/v1/hosting/sla_report as JSON, CSV or PDF, and the
original application's /hosting/api/client/reports (deprecated), both from hosting.reports.

Scoping is tenants.scoping's: a customer names only their own tenant and a site where they have
miners (anything else is 403 FORBIDDEN, existing or not); an operator names any tenant and site
they see, and without `tenant=` gets every tenant of their scope. Reports are reads: no audit."""

import datetime as dt
from urllib.parse import urlencode

from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from hosting.reports import csv as report_csv
from hosting.reports import pdf as report_pdf
from hosting.reports.sla import month_start, next_month, previous_month, report_period, sla_report
from hosting.reports.sla_sql import CHART_PERIODS, hashrate_series
from telemetry.api_read import ERRORS, QueryFormatIsOurs
from tenants import scoping

DEPRECATED = "Legacy path (SPEC §11): deprecated, never removed. "


@extend_schema_field(OpenApiTypes.DATETIME)
class InstantField(serializers.Field):
    """A date (midnight UTC) or an ISO-8601 date-time (UTC when it names no offset)."""

    default_error_messages = {"invalid": "give a date (YYYY-MM-DD) or an ISO-8601 date-time"}

    def to_internal_value(self, data):
        text = str(data).strip()
        try:
            when = parse_datetime(text)
            if when is None:
                day = parse_date(text)
                if day is None:
                    self.fail("invalid")
                when = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        except ValueError:  # well-formed but impossible, e.g. 2026-02-30
            self.fail("invalid")
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.astimezone(dt.UTC)

    def to_representation(self, value):
        return value.isoformat()


class ReportParamsSerializer(serializers.Serializer):
    site_id = serializers.CharField(required=False, max_length=64, help_text="Site.code; default: all sites")
    tenant = serializers.SlugField(
        required=False, max_length=64, help_text="tenant slug (operators; a customer may name only their own)"
    )
    from_ = InstantField(required=False, help_text="UTC, inclusive; default: the first of this month")
    to = InstantField(required=False, help_text="UTC, exclusive; default: the first of next month")
    format = serializers.ChoiceField(choices=["json", "csv", "pdf"], default="json")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # `from` is a Python keyword
        return fields


def report_for(user, params: dict, *, now=None) -> dict:
    """Resolve what the caller named (403 outside their scope), check the period, build the report."""
    now = now or timezone.now()
    site = scoping.site_get(user, params["site_id"]) if params.get("site_id") else None
    tenant = scoping.tenant_get(user, params["tenant"]) if params.get("tenant") else None
    start, end = report_period(params.get("from"), params.get("to"), now=now)
    return sla_report(user, start=start, end=end, site=site, tenant=tenant, now=now)


def report_response(report: dict, fmt: str):
    """The report in one of the three formats (JSON as a DRF Response, files as downloads)."""
    if fmt == "csv":
        body, content_type = report_csv.report_csv(report).encode(), "text/csv; charset=utf-8"
    elif fmt == "pdf":
        body, content_type = report_pdf.report_pdf(report), "application/pdf"
    else:
        return Response(report)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{report_pdf.report_filename(report, fmt)}"'
    response["Cache-Control"] = "private, no-store"
    return response


class SlaReportApi(APIView):
    """GET /api/v1/hosting/sla_report — the SLA report of a tenant, site and period."""

    content_negotiation_class = QueryFormatIsOurs

    @extend_schema(
        parameters=[ReportParamsSerializer],
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="report, version, generated_at, tenant, site, period, summary, causes, sites, days, "
                "miners, top_miners, definitions (docs/REPORTS.md)",
            ),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="`# key,value` summary, then per miner"),
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="the printable report"),
            **ERRORS,
        },
        description="Availability over measured time, measured/unmeasured minutes, downtime minutes by cause "
        "(planned vs unplanned), per site, per miner and per UTC day, delivered vs nominal hashrate, and the "
        "definitions. The period is [from, to): give both or neither (neither: this month), at most "
        "SLA_REPORT_MAX_DAYS days; one of the two alone, reversed or malformed dates "
        "and longer periods are 400 INVALID_PARAMETER. A site where you have no miners, or another tenant, is "
        "403 FORBIDDEN.",
    )
    def get(self, request):
        params = ReportParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        p = params.validated_data
        return report_response(report_for(request.user, p), p["format"])


class LegacyClientReportsApi(APIView):
    """GET /hosting/api/client/reports — the original portal's report card (deprecated)."""

    class LegacyReportsSerializer(serializers.Serializer):
        site_id = serializers.CharField(required=False, max_length=64, help_text="Site.code")
        tenant = serializers.SlugField(required=False, max_length=64)

    @extend_schema(
        parameters=[LegacyReportsSerializer],
        responses={
            200: inline_serializer(
                "LegacyClientReports",
                {
                    "success": serializers.BooleanField(),
                    "stats": inline_serializer(
                        "LegacyClientReportStats",
                        {
                            "monthly_uptime": serializers.FloatField(
                                allow_null=True, help_text="this month's availability % (measured time)"
                            ),
                            "average_hashrate": serializers.FloatField(help_text="delivered TH/s this month"),
                            "total_revenue": serializers.FloatField(allow_null=True, help_text="always null"),
                            "efficiency": serializers.FloatField(allow_null=True, help_text="always null"),
                        },
                    ),
                    "reports": serializers.ListField(child=serializers.DictField()),
                },
            ),
            **ERRORS,
        },
        description=DEPRECATED + "stats.monthly_uptime is this month's availability and average_hashrate the "
        "delivered hashrate (TH/s); revenue and efficiency are not computed here (null). `reports` lists this "
        "and last month's SLA reports with their CSV and PDF links.",
        deprecated=True,
    )
    def get(self, request):
        params = self.LegacyReportsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        p = params.validated_data
        now = timezone.now()
        report = report_for(request.user, {**p, "from": month_start(now), "to": next_month(month_start(now))}, now=now)
        s = report["summary"]
        return Response(
            {
                "success": True,
                "stats": {
                    "monthly_uptime": None if s["availability_pct"] is None else round(s["availability_pct"], 1),
                    "average_hashrate": round(s["delivered_ths"], 2),
                    "total_revenue": None,
                    "efficiency": None,
                },
                "reports": monthly_reports(request, p, now=now),
            }
        )


def report_links(request, params: dict, start: str, end: str) -> dict:
    """The SLA report of [start, end) for the same scope parameters (site_id, tenant), as
    absolute json / csv / pdf links."""
    query = {k: v for k, v in params.items() if k in ("site_id", "tenant") and v}
    query |= {"from": start, "to": end}
    links = {}
    for fmt in ("json", "csv", "pdf"):
        query_string = urlencode({**query, "format": fmt})
        links[fmt] = request.build_absolute_uri(f"{reverse('hosting-sla-report')}?{query_string}")
    return links


def monthly_reports(request, params: dict, *, now) -> list[dict]:
    """This month and last month, each with its report links (same scope parameters)."""
    this = month_start(now)
    out = []
    for first in (this, previous_month(this)):
        start, end = first.date().isoformat(), next_month(first).date().isoformat()
        out.append({"period": f"{first:%Y-%m}", "from": start, "to": end, **report_links(request, params, start, end)})
    return out


class LegacyClientReportsChartApi(APIView):
    """GET /hosting/api/client/reports/chart — the original portal's hashrate chart (deprecated)."""

    class LegacyChartSerializer(serializers.Serializer):
        period = serializers.ChoiceField(choices=list(CHART_PERIODS), default="7d")
        site_id = serializers.CharField(required=False, max_length=64, help_text="Site.code")
        tenant = serializers.SlugField(required=False, max_length=64)

    @extend_schema(
        parameters=[LegacyChartSerializer],
        responses={
            200: inline_serializer(
                "LegacyClientReportsChart",
                {
                    "success": serializers.BooleanField(),
                    "labels": serializers.ListField(child=serializers.CharField()),
                    "hashrate": serializers.ListField(child=serializers.FloatField()),
                    "revenue": serializers.ListField(child=serializers.FloatField(allow_null=True)),
                    "breakdown": serializers.DictField(),
                },
            ),
            **ERRORS,
        },
        description=DEPRECATED + "labels (`HH:00` per hour over 24h, else `MM/DD` per UTC day) and the delivered "
        "hashrate (TH/s, summed over your miners; offline time counts as 0). Revenue is not computed here: "
        "`revenue` holds nulls and `breakdown` null figures. The original's made-up points when there was no "
        "data are gone: no data, no points.",
        deprecated=True,
    )
    def get(self, request):
        params = self.LegacyChartSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        p = params.validated_data
        user = request.user
        site = scoping.site_get(user, p["site_id"]) if p.get("site_id") else None
        tenant = scoping.tenant_get(user, p["tenant"]) if p.get("tenant") else None
        points = hashrate_series(
            user,
            period=p["period"],
            site_id=site.pk if site else None,
            tenant_id=tenant.pk if tenant else None,
            now=timezone.now(),
        )
        fmt = "%H:00" if p["period"] == "24h" else "%m/%d"
        return Response(
            {
                "success": True,
                "labels": [t.strftime(fmt) for t, _ in points],
                "hashrate": [ths for _, ths in points],
                "revenue": [None] * len(points),
                "breakdown": {"mining_revenue": None, "pool_fees": None},
            }
        )
