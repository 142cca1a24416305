"""Operator command routes: /api/admin/v1/commands…, the same views under /api/v1/commands…, and
the deprecated /api/collector/commands… paths; curtailments under /api/admin/v1/curtailments….
Exact paths only, so the collector's own /api/collector/commands/pending|ack|<id>/result
(control.urls_edge) are never shadowed."""

from django.urls import path

from control import api_admin as api
from control import api_curtailment as curtail
from control import api_legacy as legacy
from control import api_legacy_v1 as v1
from control import api_remote_legacy as remote


def _routes(prefix: str, name: str, list_view=api.CommandListCreateApi) -> list:
    return [
        path(f"{prefix}commands", list_view.as_view(), name=f"{name}-commands"),
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
    # /api/v1/commands: the list answers the original application's shape, <int:pk> this project's,
    # <uuid> (the original's ids) the original's (docs/COMPATIBILITY.md)
    *_routes("api/v1/", "v1", list_view=v1.LegacyV1CommandListApi),
    path("api/v1/commands/propose", v1.LegacyProposeApi.as_view(), name="v1-command-propose"),
    path("api/v1/commands/<uuid:command_id>", v1.LegacyV1CommandApi.as_view(), name="v1-legacy-command"),
    path(
        "api/v1/commands/<uuid:command_id>/approve", v1.LegacyV1ApproveApi.as_view(), name="v1-legacy-command-approve"
    ),
    path("api/v1/commands/<uuid:command_id>/deny", v1.LegacyV1DenyApi.as_view(), name="v1-legacy-command-deny"),
    path("api/v1/commands/<int:command_id>/deny", v1.LegacyV1DenyApi.as_view(), name="v1-command-deny"),
    path(
        "api/v1/commands/<uuid:command_id>/rollback",
        v1.LegacyV1RollbackApi.as_view(),
        name="v1-legacy-command-rollback",
    ),
    # the original's remote-control routes (deprecated there already; never removed here)
    path("api/sites/<str:site_id>/commands", remote.LegacySiteCommandsApi.as_view(), name="legacy-site-commands"),
    path("api/commands/<str:command_id>", remote.LegacyRemoteCommandApi.as_view(), name="legacy-remote-command"),
    path("api/commands/<str:command_id>/cancel", remote.LegacyRemoteCancelApi.as_view(), name="legacy-remote-cancel"),
    path(
        "api/commands/<str:command_id>/approve", remote.LegacyRemoteApproveApi.as_view(), name="legacy-remote-approve"
    ),
    # legacy, deprecated (session auth; never removed)
    path("api/collector/commands", legacy.LegacyCommandCreateApi.as_view(), name="collector-commands-create"),
    path("api/collector/commands/batch", legacy.LegacyCommandBatchApi.as_view(), name="collector-commands-batch"),
    path("api/collector/commands/history", legacy.LegacyCommandHistoryApi.as_view(), name="collector-commands-history"),
    path("api/collector/commands/stats", legacy.LegacyCommandStatsApi.as_view(), name="collector-commands-stats"),
    path("api/collector/commands/<int:pk>", legacy.LegacyCommandCancelApi.as_view(), name="collector-command-cancel"),
]
