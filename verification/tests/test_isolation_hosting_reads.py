"""verify_tenant_isolation over the original operator pages' fleet reads and curtailment, monitoring and
evidence routes (/hosting/api/…): every persona probed, and a scope leak fails the run."""

import pytest

from tenants.models import Miner
from verification.isolation.testing import run_isolation

pytestmark = pytest.mark.django_db


def test_the_original_operator_reads_pass_for_every_persona():
    code, lines = run_isolation("--only", "/hosting/api/")
    assert code == 0, [line for line in lines if not line.startswith("PASS")]
    assert any(
        "GET /hosting/api/miners/<int:miner_id> noc_x_on_y 403 FORBIDDEN (same as a missing id)" in line
        for line in lines
    )
    for method in ("GET", "PUT"):
        incident = f"{method} /hosting/api/monitoring/incidents/<int:incident_id> noc_x_on_y 403 FORBIDDEN (same"
        assert any(incident in line for line in lines)
    assert any(
        "GET /hosting/api/sites/<int:site_id>/evidence-package noc_x_on_y 403 FORBIDDEN (same" in x for x in lines
    )
    for path in ("cancel", "execute", "emergency-restore"):
        assert any(f"POST /hosting/api/curtailment/{path} noc_x_on_y 403 FORBIDDEN (same" in line for line in lines)
    assert any(
        "GET /hosting/api/sites/<int:site_id> noc_x_on_y 403 FORBIDDEN (same as a missing id)" in line for line in lines
    )


def test_a_miner_scope_that_lets_every_miner_through_fails_the_run(monkeypatch):
    from tenants import scoping

    monkeypatch.setattr(scoping, "miners_for", lambda user, capability="view": Miner.objects.all())
    code, lines = run_isolation("--only", "/hosting/api/miners/<int:miner_id>")
    assert code == 1
    assert any(line.startswith("FAIL GET /hosting/api/miners/<int:miner_id> noc_x_on_y") for line in lines)
