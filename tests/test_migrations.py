"""Every model change ships with its migration: `makemigrations --check` finds nothing to write."""

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_makemigrations_finds_no_model_change_without_a_migration():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit:  # --check exits 1 when it would write a migration
        pytest.fail(f"models changed without a migration (exit {exit.code}):\n{out.getvalue()}")
    assert "No changes detected" in out.getvalue()
