"""The attempt row's indexes (docs/ARCHITECTURE.md "Indexes"): every lease inserts one row per
command, and each index is one more insert. The wire id is derived from (command, attempt) and
only ever parsed, never looked up, so its unique index goes: one unique index over (command,
attempt) is the lease's ON CONFLICT arbiter and the lookup of a command's attempts, and a CHECK
keeps each wire id what wire_id_of makes of its row (so it stays unique). (command, attempt,
lease_epoch) was implied by the wire id's uniqueness already.

Deploy with the code of the same release: the lease statement's ON CONFLICT names the new arbiter.
Building the unique index holds off attempt writes (polls) for as long as it takes, about a second
per million attempts."""

import django.db.models.functions.comparison
import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("control", "0010_hot_table_autovacuum")]

    operations = [
        migrations.AddConstraint(
            model_name="commandattempt",
            constraint=models.UniqueConstraint(fields=("command", "attempt"), name="attempt_unique"),
        ),
        migrations.RemoveConstraint(model_name="commandattempt", name="attempt_lease_unique"),
        migrations.RemoveConstraint(model_name="commandattempt", name="attempt_wire_unique"),
        migrations.AddConstraint(
            model_name="commandattempt",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    wire_id=models.Case(
                        models.When(
                            attempt=1, then=django.db.models.functions.comparison.Cast("command_id", models.CharField())
                        ),
                        default=django.db.models.functions.text.Concat(
                            django.db.models.functions.comparison.Cast("command_id", models.CharField()),
                            models.Value("."),
                            django.db.models.functions.comparison.Cast("attempt", models.CharField()),
                        ),
                    )
                ),
                name="attempt_wire_id_derived",
            ),
        ),
    ]
