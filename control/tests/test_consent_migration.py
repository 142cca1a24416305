"""control 0008_consent: commands that existed before it keep flowing (no owner's step asked of
them) and every tenant starts without a consent policy."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from control.models import Command, CommandState, ConsentPolicy
from control.tests.factories import ControlCommandFactory

BEFORE, AFTER = [("control", "0007_edge_safety_event")], [("control", "0008_consent")]


@pytest.mark.django_db(transaction=True)
def test_existing_commands_keep_flowing_after_the_consent_migration(world):
    c = ControlCommandFactory(miner=world.miners_a_x[0])
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)  # the row stays, the owner's columns go
    with connection.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'control_command'")
        assert "owner_consent_required" not in {r[0] for r in cur.fetchall()}
        cur.execute("SELECT to_regclass('control_consentpolicy')")
        assert cur.fetchone()[0] is None
    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    stored = Command.objects.get(pk=c.pk)
    assert (stored.state, stored.owner_consent_required, stored.owner_approved_by_id) == (
        CommandState.QUEUED,
        False,
        None,
    )
    assert ConsentPolicy.objects.count() == 0
    # Back to every app's newest migration: going back to 0007 also undid the later ones
    # (control 0009_collector_status), which the tests after this one and /health/deep expect.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert MigrationExecutor(connection).migration_plan(executor.loader.graph.leaf_nodes()) == []
