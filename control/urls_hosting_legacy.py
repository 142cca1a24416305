"""The original operator pages' miner control routes (/hosting/api/miners…; control.api_hosting_legacy)
and curtailment routes (/hosting/api/curtailment/…; control.api_curtailment_legacy).
Deprecated, never removed. The batch paths come before <int:miner_id> only by their literal names."""

from django.urls import path

from control import api_curtailment_legacy as curtailment
from control import api_hosting_legacy as api

P = "hosting/api/miners/"
CURTAILMENT = [
    ("calculate", curtailment.LegacyCurtailmentCalculateApi),
    ("execute", curtailment.LegacyCurtailmentExecuteApi),
    ("cancel", curtailment.LegacyCurtailmentCancelApi),
    ("emergency-restore", curtailment.LegacyCurtailmentEmergencyRestoreApi),
    ("history", curtailment.LegacyCurtailmentHistoryApi),
]

urlpatterns = [
    path(f"{P}<int:miner_id>/start", api.LegacyMinerActionApi.as_view(action="start"), name="legacy-miner-start"),
    path(
        f"{P}<int:miner_id>/shutdown",
        api.LegacyMinerActionApi.as_view(action="shutdown"),
        name="legacy-miner-shutdown",
    ),
    path(f"{P}<int:miner_id>/restart", api.LegacyMinerActionApi.as_view(action="restart"), name="legacy-miner-restart"),
    path(f"{P}<int:miner_id>/command", api.LegacyMinerCommandApi.as_view(), name="legacy-miner-command"),
    path(f"{P}batch-start", api.LegacyMinerBatchActionApi.as_view(action="start"), name="legacy-miners-batch-start"),
    path(
        f"{P}batch-shutdown",
        api.LegacyMinerBatchActionApi.as_view(action="shutdown"),
        name="legacy-miners-batch-shutdown",
    ),
    path(f"{P}batch-command", api.LegacyMinerBatchCommandApi.as_view(), name="legacy-miners-batch-command"),
    # the original's curtailment routes over control.services.curtailment (control/api_curtailment_legacy.py)
    *(path(f"hosting/api/curtailment/{p}", view.as_view(), name=f"legacy-curtailment-{p}") for p, view in CURTAILMENT),
]
