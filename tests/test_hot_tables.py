"""The hot tables carry their own autovacuum settings (docs/DEPLOYMENT.md "PostgreSQL settings that
matter"): vacuumed and analysed after a small share of their rows changed, not the default 20 %."""

import pytest
from django.db import connection

# table -> the storage parameters its migration sets (telemetry 0008, control 0010, audit 0004, rules 0003)
HOT_TABLES = {
    "telemetry_live": {"autovacuum_vacuum_scale_factor": "0.02", "autovacuum_analyze_scale_factor": "0.05"},
    "control_command": {"autovacuum_vacuum_scale_factor": "0.02", "autovacuum_analyze_scale_factor": "0.01"},
    "control_commandattempt": {"autovacuum_vacuum_scale_factor": "0.05", "autovacuum_analyze_scale_factor": "0.02"},
    "audit_auditchain": {"autovacuum_vacuum_scale_factor": "0", "autovacuum_vacuum_threshold": "1000"},
    "rules_rulestate": {"autovacuum_vacuum_scale_factor": "0.05", "autovacuum_analyze_scale_factor": "0.05"},
}


def reloptions(table: str) -> dict[str, str]:
    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = %s::regclass", [table])
        (options,) = cur.fetchone()
    return dict(o.split("=", 1) for o in options)


@pytest.mark.django_db
@pytest.mark.parametrize("table", sorted(HOT_TABLES))
def test_a_hot_table_is_vacuumed_after_a_small_share_of_changes(table):
    options = reloptions(table)
    for name, value in HOT_TABLES[table].items():
        assert options.get(name) == value, (table, options)


@pytest.mark.django_db
def test_the_live_table_keeps_its_fillfactor_beside_the_autovacuum_settings():
    assert reloptions("telemetry_live")["fillfactor"] == "70"
