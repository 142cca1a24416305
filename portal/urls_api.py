"""The original customer portal's JSON routes and pages (SPEC §11): deprecated, never removed.

Served where the original served them, /hosting/api/client/* and /hosting/client*; the first
three also at /api/client/*, where this product first put them (same views). The report card
and chart (/hosting/api/client/reports, /reports/chart) are hosting's (hosting/urls_reports.py)."""

from django.urls import path

from portal import api_legacy, api_legacy_fleet, api_legacy_usage, api_portal_v1, views_legacy

ROOT_AND_HOSTING = [
    ("dashboard", api_legacy.ClientDashboardApi, "dashboard"),
    ("miner-distribution", api_legacy.ClientMinerDistributionApi, "miner-distribution"),
    ("miners", api_legacy.ClientMinersApi, "miners"),
]
HOSTING_ONLY = [
    ("assets", api_legacy.ClientAssetsApi, "assets"),
    ("miners/<int:miner_id>", api_legacy.ClientMinerDetailApi, "miner"),
    ("revenue-chart", api_legacy.ClientRevenueChartApi, "revenue-chart"),
    ("usage", api_legacy_usage.ClientUsageApi, "usage"),
    ("usage/generate-report", api_legacy_usage.ClientUsageReportApi, "usage-generate-report"),
    ("usage/alerts", api_legacy_usage.ClientUsageAlertsApi, "usage-alerts"),
    ("reports/generate", api_legacy_usage.ClientReportGenerateApi, "reports-generate"),
]

# the original operator pages' fleet reads (portal/api_legacy_fleet.py)
FLEET = [
    ("miners", api_legacy_fleet.LegacyHostingMinersApi, "miners"),
    ("miners/<int:miner_id>", api_legacy_fleet.LegacyHostingMinerApi, "miner"),
    ("miners/<int:miner_id>/telemetry-history", api_legacy_fleet.LegacyHostingMinerHistoryApi, "miner-history"),
    ("sites", api_legacy_fleet.LegacyHostingSitesApi, "sites"),
    ("sites/<int:site_id>", api_legacy_fleet.LegacyHostingSiteApi, "site"),
    ("overview", api_legacy_fleet.LegacyHostingOverviewApi, "overview"),
]

urlpatterns = [
    *(path(f"hosting/api/{p}", view.as_view(), name=f"legacy-hosting-{name}") for p, view, name in FLEET),
    *(path(f"api/client/{p}", view.as_view(), name=f"legacy-client-{name}") for p, view, name in ROOT_AND_HOSTING),
    *(
        path(f"hosting/api/client/{p}", view.as_view(), name=f"legacy-hosting-client-{name}")
        for p, view, name in ROOT_AND_HOSTING + HOSTING_ONLY
    ),
    # the original's portal-lite API (LEGACY_ROUTES.md A16)
    path("api/v1/portal/my-miners", api_portal_v1.MyMinersApi.as_view(), name="portal-v1-my-miners"),
    path("api/v1/portal/my-approvals", api_portal_v1.MyApprovalsApi.as_view(), name="portal-v1-my-approvals"),
    path(
        "api/v1/portal/approvals/<str:command_id>/approve",
        api_portal_v1.DecisionApi.as_view(),
        name="portal-v1-approve",
    ),
    path("api/v1/portal/approvals/<str:command_id>/deny", api_portal_v1.DenyApi.as_view(), name="portal-v1-deny"),
    path("api/v1/portal/my-reports", api_portal_v1.MyReportsApi.as_view(), name="portal-v1-my-reports"),
    path("api/v1/portal/my-stats", api_portal_v1.MyStatsApi.as_view(), name="portal-v1-my-stats"),
    path("hosting/client", views_legacy.client_page, name="legacy-hosting-client"),
    path("hosting/client/<path:subpath>", views_legacy.client_page, name="legacy-hosting-client-page"),
]
