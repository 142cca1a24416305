"""The original customer portal's JSON routes (SPEC §11): deprecated, never removed."""

from django.urls import path

from portal import api_legacy

urlpatterns = [
    path("api/client/dashboard", api_legacy.ClientDashboardApi.as_view(), name="legacy-client-dashboard"),
    path(
        "api/client/miner-distribution",
        api_legacy.ClientMinerDistributionApi.as_view(),
        name="legacy-client-miner-distribution",
    ),
    path("api/client/miners", api_legacy.ClientMinersApi.as_view(), name="legacy-client-miners"),
]
