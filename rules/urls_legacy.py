"""The original application's thermal routes (deprecated, never removed; rules/api_legacy.py)."""

from django.urls import path

from rules import api_legacy as legacy

urlpatterns = [
    path("api/thermal/config", legacy.ThermalConfigBySiteIdApi.as_view(), name="legacy-thermal-config"),
    path("api/thermal/check", legacy.ThermalCheckBySiteIdApi.as_view(), name="legacy-thermal-check"),
    path(
        "hosting/api/thermal/config/<int:site_id>",
        legacy.ThermalConfigApi.as_view(),
        name="legacy-hosting-thermal-config",
    ),
    path(
        "hosting/api/thermal/check/<int:site_id>", legacy.ThermalCheckApi.as_view(), name="legacy-hosting-thermal-check"
    ),
    path(
        "hosting/api/thermal/events/<int:site_id>",
        legacy.ThermalEventsApi.as_view(),
        name="legacy-hosting-thermal-events",
    ),
    path(
        "hosting/api/thermal/stats/<int:site_id>", legacy.ThermalStatsApi.as_view(), name="legacy-hosting-thermal-stats"
    ),
]
