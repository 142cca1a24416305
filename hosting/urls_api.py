"""Hosting API routes: /api/v1/hosting/… and the deprecated /hosting/api/… and /api/collector/alerts
paths of the original application (SPEC §11)."""

from django.urls import path

from hosting.api import alerts, downtime, legacy, legacy_collector, legacy_monitoring, maintenance, work_orders

V1 = "api/v1/hosting/"

urlpatterns = [
    path(f"{V1}work_orders", work_orders.WorkOrderListCreateApi.as_view(), name="hosting-work-orders"),
    path(f"{V1}work_orders/<int:pk>", work_orders.WorkOrderDetailApi.as_view(), name="hosting-work-order"),
    path(
        f"{V1}work_orders/<int:pk>/transition",
        work_orders.WorkOrderTransitionApi.as_view(),
        name="hosting-work-order-transition",
    ),
    path(
        f"{V1}work_orders/<int:pk>/comments",
        work_orders.WorkOrderCommentApi.as_view(),
        name="hosting-work-order-comment",
    ),
    path(
        f"{V1}work_orders/<int:pk>/assign", work_orders.WorkOrderAssignApi.as_view(), name="hosting-work-order-assign"
    ),
    path(f"{V1}alerts", alerts.AlertListRaiseApi.as_view(), name="hosting-alerts"),
    path(f"{V1}alerts/<int:pk>", alerts.AlertDetailApi.as_view(), name="hosting-alert"),
    path(f"{V1}alerts/<int:pk>/acknowledge", alerts.AlertAcknowledgeApi.as_view(), name="hosting-alert-acknowledge"),
    path(f"{V1}alerts/<int:pk>/resolve", alerts.AlertResolveApi.as_view(), name="hosting-alert-resolve"),
    path(f"{V1}maintenance_windows", maintenance.WindowListCreateApi.as_view(), name="hosting-windows"),
    path(f"{V1}maintenance_windows/<int:pk>", maintenance.WindowDetailApi.as_view(), name="hosting-window"),
    path(
        f"{V1}maintenance_windows/<int:pk>/cancel", maintenance.WindowCancelApi.as_view(), name="hosting-window-cancel"
    ),
    path(
        f"{V1}maintenance_windows/<int:pk>/expire", maintenance.WindowExpireApi.as_view(), name="hosting-window-expire"
    ),
    path(f"{V1}downtime", downtime.DowntimeIntervalListApi.as_view(), name="hosting-downtime"),
    path(f"{V1}downtime/summary", downtime.DowntimeSummaryApi.as_view(), name="hosting-downtime-summary"),
    # legacy, deprecated (session auth; never removed)
    path("hosting/api/tickets", legacy.LegacyTicketsApi.as_view(), name="legacy-hosting-tickets"),
    path("hosting/api/tickets/<int:pk>", legacy.LegacyTicketDetailApi.as_view(), name="legacy-hosting-ticket"),
    path(
        "hosting/api/tickets/<int:pk>/status",
        legacy.LegacyTicketStatusApi.as_view(),
        name="legacy-hosting-ticket-status",
    ),
    path("hosting/api/incidents", legacy.LegacyIncidentsApi.as_view(), name="legacy-hosting-incidents"),
    path(
        "hosting/api/monitoring/incidents",
        legacy_monitoring.LegacyMonitoringIncidentsRaiseApi.as_view(),
        name="legacy-hosting-monitoring-incidents",
    ),
    path(
        "hosting/api/monitoring/incidents/<int:incident_id>",
        legacy_monitoring.LegacyMonitoringIncidentApi.as_view(),
        name="legacy-hosting-monitoring-incident",
    ),
    path(
        "hosting/api/monitoring/overview",
        legacy_monitoring.LegacyMonitoringOverviewApi.as_view(),
        name="legacy-hosting-monitoring-overview",
    ),
    path("api/collector/alerts", legacy_collector.LegacyCollectorAlertsApi.as_view(), name="legacy-collector-alerts"),
    path("api/collector/stats", legacy_collector.LegacyCollectorStatsApi.as_view(), name="legacy-collector-stats"),
]
