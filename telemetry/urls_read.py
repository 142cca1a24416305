"""Telemetry read routes for people (operators and customers), v1 and legacy."""

urlpatterns: list = []
