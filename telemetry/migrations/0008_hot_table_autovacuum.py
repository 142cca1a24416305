"""Per-table autovacuum for the hot tables (docs/DEPLOYMENT.md "PostgreSQL settings that matter"):
rows updated in place on every upload, poll or append are vacuumed and analysed after a small share
of them changed, not the default 20 %."""

from django.db import migrations

FORWARD = """
ALTER TABLE telemetry_live SET (autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.05,
    autovacuum_vacuum_cost_delay = 0);
"""
BACKWARD = """
ALTER TABLE telemetry_live RESET (autovacuum_vacuum_scale_factor,
    autovacuum_analyze_scale_factor,
    autovacuum_vacuum_cost_delay);
"""


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0007_ingest_rejected_codes")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
