"""SLA report routes (docs/REPORTS.md): v1 and the original application's path (deprecated)."""

from django.urls import path

from hosting import api_reports

urlpatterns = [
    path("api/v1/hosting/sla_report", api_reports.SlaReportApi.as_view(), name="hosting-sla-report"),
    # legacy (SPEC §11): deprecated, never removed
    path(
        "hosting/api/client/reports", api_reports.LegacyClientReportsApi.as_view(), name="legacy-hosting-client-reports"
    ),
    path(
        "hosting/api/client/reports/chart",
        api_reports.LegacyClientReportsChartApi.as_view(),
        name="legacy-hosting-client-reports-chart",
    ),
]
