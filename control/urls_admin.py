"""Operator command routes: /api/admin/v1/commands…, the same views under /api/v1/commands…, and
the deprecated /api/collector/commands… paths; curtailments under /api/admin/v1/curtailments….
Exact paths only, so the collector's own /api/collector/commands/pending|ack|<id>/result
(control.urls_edge) are never shadowed."""

from django.urls import path

from control import api_admin as api
from control import api_curtailment as curtail
from control import api_legacy as legacy


def _routes(prefix: str, name: str) -> list:
    return [
        path(f"{prefix}commands", api.CommandListCreateApi.as_view(), name=f"{name}-commands"),
        path(f"{prefix}commands/<int:pk>", api.CommandDetailApi.as_view(), name=f"{name}-command"),
        path(f"{prefix}commands/<int:pk>/approve", api.CommandApproveApi.as_view(), name=f"{name}-command-approve"),
        path(f"{prefix}commands/<int:pk>/reject", api.CommandRejectApi.as_view(), name=f"{name}-command-reject"),
        path(f"{prefix}commands/<int:pk>/cancel", api.CommandCancelApi.as_view(), name=f"{name}-command-cancel"),
        path(f"{prefix}commands/<int:pk>/rollback", api.CommandRollbackApi.as_view(), name=f"{name}-command-rollback"),
    ]


urlpatterns = [
    *_routes("api/admin/v1/", "admin"),
    path("api/admin/v1/curtailments", curtail.CurtailmentListCreateApi.as_view(), name="admin-curtailments"),
    path("api/admin/v1/curtailments/<int:pk>", curtail.CurtailmentDetailApi.as_view(), name="admin-curtailment"),
    path(
        "api/admin/v1/curtailments/<int:pk>/approve",
        curtail.CurtailmentApproveApi.as_view(),
        name="admin-curtailment-approve",
    ),
    path(
        "api/admin/v1/curtailments/<int:pk>/cancel",
        curtail.CurtailmentCancelApi.as_view(),
        name="admin-curtailment-cancel",
    ),
    *_routes("api/v1/", "v1"),
    # legacy, deprecated (session auth; never removed)
    path("api/collector/commands", legacy.LegacyCommandCreateApi.as_view(), name="collector-commands-create"),
    path("api/collector/commands/batch", legacy.LegacyCommandBatchApi.as_view(), name="collector-commands-batch"),
    path("api/collector/commands/history", legacy.LegacyCommandHistoryApi.as_view(), name="collector-commands-history"),
    path("api/collector/commands/stats", legacy.LegacyCommandStatsApi.as_view(), name="collector-commands-stats"),
    path("api/collector/commands/<int:pk>", legacy.LegacyCommandCancelApi.as_view(), name="collector-command-cancel"),
]
