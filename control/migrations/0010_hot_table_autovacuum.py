"""Per-table autovacuum for the hot tables (docs/DEPLOYMENT.md "PostgreSQL settings that matter"):
rows updated in place on every upload, poll or append are vacuumed and analysed after a small share
of them changed, not the default 20 %."""

from django.db import migrations

FORWARD = """
ALTER TABLE control_command SET (autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.01);
ALTER TABLE control_commandattempt SET (autovacuum_vacuum_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02);
"""
BACKWARD = """
ALTER TABLE control_command RESET (autovacuum_vacuum_scale_factor,
    autovacuum_analyze_scale_factor);
ALTER TABLE control_commandattempt RESET (autovacuum_vacuum_scale_factor,
    autovacuum_analyze_scale_factor);
"""


class Migration(migrations.Migration):
    dependencies = [("control", "0009_collector_status")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
