"""Collector-facing telemetry routes (upload). Legacy paths are deprecated, never removed."""

from django.urls import path

from telemetry.api_edge import TelemetryBatchApi, TelemetryUploadLegacyApi

urlpatterns = [
    path("api/collector/upload", TelemetryUploadLegacyApi.as_view(), name="collector-upload"),
    path("api/collector/telemetry", TelemetryUploadLegacyApi.as_view(), name="collector-telemetry"),  # SPEC §11 alias
    path("api/edge/v1/telemetry/batch", TelemetryBatchApi.as_view(), name="edge-telemetry-batch"),
    # the original served the same view on both paths
    path("api/edge/v1/telemetry/ingest", TelemetryBatchApi.as_view(), name="edge-telemetry-ingest"),
]
