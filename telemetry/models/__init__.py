from .batches import IngestBatch
from .quarantine import CollectorPayloadKey, QuarantinedBatch, QuarantineStatus
from .rollup import RollupWatermark
from .tiers import (
    TIER_MODELS,
    Telemetry1m,
    Telemetry15m,
    TelemetryDaily,
    TelemetryLive,
    TelemetryRaw,
)

__all__ = [
    "TIER_MODELS",
    "CollectorPayloadKey",
    "IngestBatch",
    "QuarantineStatus",
    "QuarantinedBatch",
    "RollupWatermark",
    "Telemetry15m",
    "Telemetry1m",
    "TelemetryDaily",
    "TelemetryLive",
    "TelemetryRaw",
]
