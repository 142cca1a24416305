"""Per-table autovacuum for the hot tables (docs/DEPLOYMENT.md "PostgreSQL settings that matter"):
rows updated in place on every upload, poll or append are vacuumed and analysed after a small share
of them changed, not the default 20 %."""

from django.db import migrations

FORWARD = """
ALTER TABLE rules_rulestate SET (autovacuum_vacuum_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.05);
"""
BACKWARD = """
ALTER TABLE rules_rulestate RESET (autovacuum_vacuum_scale_factor,
    autovacuum_analyze_scale_factor);
"""


class Migration(migrations.Migration):
    dependencies = [("rules", "0002_rule_thermal_level")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
