"""Collector-facing telemetry routes (upload). Legacy paths are deprecated, never removed."""

urlpatterns: list = []
