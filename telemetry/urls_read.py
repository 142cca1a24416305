"""Telemetry read routes for people (operators and customers), v1 and legacy."""

from django.urls import path

from telemetry import api_legacy, api_legacy_v1, api_read

urlpatterns: list = [
    # live and history answer the original application's shape when its parameters say so
    # (telemetry.api_legacy_v1, docs/COMPATIBILITY.md)
    path(
        "api/v1/telemetry/live",
        api_read.TelemetryLiveApi.as_view(original_shape=api_legacy_v1.live_original),
        name="telemetry-live",
    ),
    path(
        "api/v1/telemetry/history",
        api_read.TelemetryHistoryApi.as_view(original_shape=api_legacy_v1.history_original),
        name="telemetry-history",
    ),
    path(
        "api/v1/telemetry/site-summary", api_legacy_v1.LegacySiteSummaryApi.as_view(), name="legacy-telemetry-summary"
    ),
    path(
        "api/v1/telemetry/miner/<str:miner_id>",
        api_legacy_v1.LegacyMinerTelemetryV1Api.as_view(),
        name="legacy-telemetry-miner",
    ),
    path("api/sites/<str:site_id>/miners", api_legacy_v1.LegacySiteMinersApi.as_view(), name="legacy-site-miners"),
    path("api/v1/telemetry/stats", api_legacy.TelemetryStatsApi.as_view(), name="telemetry-stats"),
    # legacy (SPEC §11): deprecated, never removed
    path("api/collector/live/<str:site_id>", api_legacy.LegacyLiveApi.as_view(), name="legacy-collector-live"),
    path("api/collector/summary/<str:site_id>", api_legacy.LegacySummaryApi.as_view(), name="legacy-collector-summary"),
    # /api/collector/stats: routed by hosting (its answer counts open alerts)
    path(
        "api/collector/monitor/sites/<str:site_id>/miners/latest",
        api_legacy.LegacyMonitorLatestApi.as_view(),
        name="legacy-collector-monitor-latest",
    ),
    path(
        "api/collector/monitor/sites/<str:site_id>/miners/<str:miner_id>/history",
        api_legacy.LegacyMonitorHistoryApi.as_view(),
        name="legacy-collector-monitor-history",
    ),
    path(
        "api/collector/miners/<str:miner_id>/status",
        api_legacy.LegacyMinerStatusApi.as_view(),
        name="legacy-collector-miner-status",
    ),
    path("api/sites", api_legacy.LegacySitesApi.as_view(), name="legacy-sites"),
    path("api/miners", api_legacy.LegacyMinersApi.as_view(), name="legacy-miners"),
    path(
        "api/miners/<str:miner_id>/telemetry",
        api_legacy.LegacyMinerTelemetryApi.as_view(),
        name="legacy-miner-telemetry",
    ),
]
