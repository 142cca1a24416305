"""Collector-facing command routes. Legacy paths are deprecated, never removed."""

from django.urls import path

from control import api_edge, api_edge_original

urlpatterns = [
    path("api/edge/v1/commands/poll", api_edge.CommandPollApi.as_view(), name="edge-commands-poll"),
    # The collector inserts command_id unencoded: <path:> takes whatever it sends.
    path("api/edge/v1/commands/<path:command_id>/ack", api_edge.CommandAckApi.as_view(), name="edge-command-ack"),
    path("api/edge/v1/register", api_edge_original.EdgeRegisterApi.as_view(), name="edge-register"),
    path(
        "api/edge/v1/events/safety/batch",
        api_edge_original.SafetyEventsBatchApi.as_view(),
        name="edge-safety-events-batch",
    ),
    path("api/collector/health", api_edge_original.CollectorHealthApi.as_view(), name="collector-health"),
    path(
        "api/collector/commands/pending", api_edge.LegacyCommandPendingApi.as_view(), name="collector-commands-pending"
    ),
    path(
        "api/collector/commands/pending/<str:site_id>",
        api_edge.LegacyCommandPendingSiteApi.as_view(),
        name="collector-commands-pending-site",
    ),
    path("api/collector/commands/ack", api_edge.LegacyCommandAckApi.as_view(), name="collector-commands-ack"),
    path(
        "api/collector/commands/<path:command_id>/result",
        api_edge.LegacyCommandResultApi.as_view(),
        name="collector-command-result",
    ),
]
