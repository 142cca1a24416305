"""Fixtures shared by the control app's tests."""

import pytest


@pytest.fixture
def no_blast_radius_cap(settings):
    """Lift the blast-radius guardrail, for tests about something else (use with usefixtures)."""
    settings.COMMAND_BLAST_RADIUS_PCT = 100
