"""Per-table autovacuum for the hot tables (docs/DEPLOYMENT.md "PostgreSQL settings that matter"):
rows updated in place on every upload, poll or append are vacuumed and analysed after a small share
of them changed, not the default 20 %."""

from django.db import migrations

FORWARD = """
ALTER TABLE audit_auditchain SET (autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_cost_delay = 0);
"""
BACKWARD = """
ALTER TABLE audit_auditchain RESET (autovacuum_vacuum_scale_factor,
    autovacuum_vacuum_threshold,
    autovacuum_vacuum_cost_delay);
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_audit_refs_index")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
