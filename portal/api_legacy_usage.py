"""The original customer portal's usage and report-generation routes (SPEC §11, LEGACY_ROUTES.md
"Customer portal"), deprecated, mapped onto what this product has (docs/COMPATIBILITY.md
"/hosting/api/client"):

- usage: the original billed energy and cost from usage records; this product meters neither and
  keeps no prices, so energy and cost are null; the devices are counted from the live state and the
  history is the monthly SLA reports (hosting.reports), with their links.
- usage/generate-report and reports/generate: this product has no report job to start — the SLA
  report of a period is built when it is asked for. Both check the period and the scope, build the
  report once (so a bad request fails now, not at download) and answer its summary and links.
  Nothing is stored, so nothing is audited (reports are reads).
- usage/alerts: thresholds on energy and cost, which this product does not measure: refused with
  410 NOT_CARRIED (alerts on what is measured are the rule engine's, docs/RULES.md)."""

import datetime as dt

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.exceptions import error_body
from core.errors import InvalidParameter
from hosting.api_reports import monthly_reports, report_for, report_links
from hosting.reports.sla import month_start, next_month
from portal import selectors
from portal.legacy_client import ERRORS, caller_miners, legacy

NOT_CARRIED = "NOT_CARRIED"
ALERTS_REFUSAL = (
    "usage alerts are not carried over: this product measures neither energy nor cost; "
    "alert rules on hashrate, temperature and state are set by your operator"
)


def _scope_params(request) -> dict:
    slug = request.query_params.get("tenant", "")
    return {"tenant": slug} if slug else {}


def _day_before(iso_day: str) -> str:
    return (dt.date.fromisoformat(iso_day) - dt.timedelta(days=1)).isoformat()


class ClientUsageApi(APIView):
    """GET /hosting/api/client/usage — {success, summary, current_usage, history}."""

    @legacy(
        "The original's usage page: `summary.active_devices` (online miners now) and `next_report_date` (the "
        "first of next month, when this month's SLA report closes); energy and cost figures are null (not "
        "metered, no prices here); `history` lists this and last month's SLA reports with their links.",
        inline_serializer(
            "LegacyClientUsage",
            {
                "success": serializers.BooleanField(),
                "summary": serializers.DictField(),
                "current_usage": serializers.DictField(),
                "history": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request):
        totals = selectors.dashboard_figures(request.user, caller_miners(request))["totals"]
        now = timezone.now()
        this = month_start(now)
        upcoming = next_month(this)
        history = [
            {
                "id": None,
                "report_date": r["from"],
                "period": f"{r['from']} - {_day_before(r['to'])}",
                "energy_kwh": None,
                "total_cost": None,
                "status": "open" if r["from"] == this.date().isoformat() else "closed",
                **{k: r[k] for k in ("from", "to", "json", "csv", "pdf")},
            }
            for r in monthly_reports(request, _scope_params(request), now=now)
        ]
        return Response(
            {
                "success": True,
                "summary": {
                    "current_month_energy": None,
                    "current_month_cost": None,
                    "total_energy": None,
                    "total_cost": None,
                    "active_devices": totals["online"],
                    "next_report_date": upcoming.date().isoformat(),
                },
                "current_usage": {
                    "report_date": this.date().isoformat(),
                    "period_end": _day_before(upcoming.date().isoformat()),
                    "total_energy_kwh": None,
                    "total_cost": None,
                    "status": "active",
                    "usage_items": [],
                },
                "history": history,
            }
        )


REPORT_ANSWER = inline_serializer(
    "LegacyClientReportGenerated",
    {
        "success": serializers.BooleanField(),
        "message": serializers.CharField(),
        "report_id": serializers.IntegerField(allow_null=True, help_text="always null: reports are not stored"),
        "report": inline_serializer(
            "LegacyClientReportLinks",
            {
                "from": serializers.DateField(),
                "to": serializers.DateField(help_text="exclusive"),
                "summary": serializers.DictField(help_text="the SLA report's summary (docs/REPORTS.md)"),
                "json": serializers.URLField(),
                "csv": serializers.URLField(),
                "pdf": serializers.URLField(),
            },
        ),
    },
)


def _generated(request, params: dict, start: dt.datetime | None, end: dt.datetime | None, message: str):
    """Build the SLA report once (period and scope checked: 400 / 403) and answer where it is."""
    report = report_for(request.user, {**params, "from": start, "to": end})
    period = report["period"]
    first, last = (period[k].astimezone(dt.UTC).date().isoformat() for k in ("from", "to"))
    return Response(
        {
            "success": True,
            "message": message,
            "report_id": None,
            "report": {
                "from": first,
                "to": last,
                "summary": report["summary"],
                **report_links(request, params, first, last),
            },
        }
    )


class ClientUsageReportApi(APIView):
    """POST /hosting/api/client/usage/generate-report — {success, message, report}."""

    @legacy(
        "No usage record is generated (nothing is metered or billed here): answers this month's SLA report, "
        "built now, with its summary and download links.",
        REPORT_ANSWER,
        request=None,
    )
    def post(self, request):
        return _generated(
            request,
            _scope_params(request),
            None,
            None,
            "This month's SLA report is ready (usage is not metered here): see report.pdf",
        )


class ReportRequestSerializer(serializers.Serializer):
    report_type = serializers.CharField(max_length=32, default="monthly", help_text="echoed; the report is the SLA one")
    start_date = serializers.DateField(required=False, help_text="first day (UTC); with end_date, or neither")
    end_date = serializers.DateField(required=False, help_text="last day, inclusive (UTC)")
    site_id = serializers.CharField(required=False, max_length=64, help_text="Site.code or an alias")
    tenant = serializers.SlugField(required=False, max_length=64)


class ClientReportGenerateApi(APIView):
    """POST /hosting/api/client/reports/generate {report_type, start_date, end_date} — {success, message, report}."""

    @legacy(
        "The original's report button: builds the SLA report of [start_date, end_date] (both inclusive UTC days; "
        "neither = this month) for your miners, optionally one site (`site_id`) or tenant, and answers its "
        "summary and download links (site_id and tenant also in the query string). "
        "Reversed, half-given or over-long periods are 400 INVALID_PARAMETER; "
        "a site or tenant outside your scope 403 FORBIDDEN.",
        REPORT_ANSWER,
        request=ReportRequestSerializer,
    )
    def post(self, request):
        # the page posts JSON; site_id / tenant may also come in the query string (as on the GET routes)
        if not hasattr(request.data, "dict") and not isinstance(request.data, dict):  # a JSON list, string, …
            raise InvalidParameter("the body must be a JSON object", fields={"body": ["expected an object"]})
        sent = request.data.dict() if hasattr(request.data, "dict") else dict(request.data)
        query = {k: v for k, v in request.query_params.dict().items() if v != ""}  # `?tenant=` is absent, as on GET
        body = ReportRequestSerializer(data={**query, **sent})
        body.is_valid(raise_exception=True)
        p = body.validated_data
        if ("start_date" in p) != ("end_date" in p):  # named as this route calls them (not the SLA API's from/to)
            missing = "end_date" if "start_date" in p else "start_date"
            raise InvalidParameter("give both start_date and end_date (or neither: this month)", field=missing)
        start = dt.datetime.combine(p["start_date"], dt.time(), tzinfo=dt.UTC) if "start_date" in p else None
        end = (
            dt.datetime.combine(p["end_date"], dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1)
            if "end_date" in p
            else None
        )
        params = {k: p[k] for k in ("site_id", "tenant") if p.get(k)}
        return _generated(request, params, start, end, f"{p['report_type']} report ready: see report.pdf")


class ClientUsageAlertsApi(APIView):
    """POST /hosting/api/client/usage/alerts — refused: 410 NOT_CARRIED."""

    not_carried = True  # docs/COMPATIBILITY.md lists the route as not carried (tests/test_compatibility_routes.py)

    @legacy(
        "Not carried over: the original stored nothing either (it logged the settings); energy and cost "
        "thresholds have nothing to watch here. Always 410 NOT_CARRIED for a signed-in caller.",
        OpenApiResponse(description="never: the route always refuses"),
        request=None,
        errors={**ERRORS, 410: OpenApiResponse(description="NOT_CARRIED: usage alerts are not carried over")},
    )
    def post(self, request):
        return Response(error_body(NOT_CARRIED, ALERTS_REFUSAL) | {"message": ALERTS_REFUSAL}, status=410)
