"""verify_tenant_isolation over the original customer portal's routes (/hosting/api/client/*,
/hosting/client*): every persona is probed, a miner id of another customer answers like a missing one."""

import pytest

from verification.isolation.testing import run_isolation

pytestmark = pytest.mark.django_db


run = run_isolation


def test_the_hosting_client_routes_pass_for_every_persona():
    code, lines = run("--only", "/hosting/")
    assert code == 0, [line for line in lines if not line.startswith("PASS")]
    text = "\n".join(lines)
    assert "GET /hosting/api/client/miners/<int:miner_id> customer_a_on_b 403 FORBIDDEN (same as a missing id)" in text
    assert "POST /hosting/api/client/reports/generate customer_a_on_b 403" in text
    assert "POST /hosting/api/client/usage/alerts customer_a_own 410 NOT_CARRIED" in text
    assert "GET /hosting/client/<path:subpath> anonymous" in text


def test_a_miner_detail_that_ignores_the_scope_fails_the_run(monkeypatch):
    from portal import api_legacy
    from tenants.models import Miner

    monkeypatch.setattr(api_legacy, "caller_miners", lambda request: Miner.objects.all())
    code, lines = run("--only", "/hosting/api/client/miners/<int:miner_id>")
    assert code == 1
    assert any(line.startswith("FAIL GET /hosting/api/client/miners/<int:miner_id> customer_a_on_b") for line in lines)
