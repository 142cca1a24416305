"""verify_tenant_isolation over hosting's routes: each persona is probed, and a selector that lets
another tenant's rows through fails the run."""

import pytest

from hosting.models import WorkOrder
from verification.isolation.testing import run_isolation

pytestmark = pytest.mark.django_db


run = run_isolation


def test_the_hosting_routes_pass_for_every_persona():
    code, lines = run("--only", "/api/v1/hosting/")
    assert code == 0, [line for line in lines if not line.startswith("PASS")]
    personas = {line.split()[3] for line in lines[:-1]}
    signed_in = {"customer_a_on_b", "noc_x_on_y", "customer_a_own", "noc_x_own"}
    signed_in |= {"group_customer_a_on_b", "zone_tech_x_on_y", "group_customer_a_own", "zone_tech_x_own"}
    assert personas == {"anonymous", *signed_in, *(f"{p}+token" for p in signed_in)}
    assert any("POST /api/v1/hosting/work_orders/<int:pk>/transition customer_a_on_b 403" in line for line in lines)


def test_a_work_order_selector_that_ignores_the_tenant_fails_the_run(monkeypatch):
    from hosting.selectors import work_orders

    monkeypatch.setattr(work_orders, "work_orders_for", lambda user, capability="view": WorkOrder.objects.all())
    code, lines = run("--only", "/api/v1/hosting/work_orders/<int:pk>")
    assert code == 1
    assert any(line.startswith("FAIL GET /api/v1/hosting/work_orders/<int:pk> customer_a_on_b") for line in lines)


def test_the_portal_work_order_page_refuses_another_tenants_order():
    code, lines = run("--only", "/portal/t/<slug:tenant>/work-orders/")
    assert code == 0, [line for line in lines if not line.startswith("PASS")]
    assert any("customer_a_on_b 403 (same as a missing id)" in line for line in lines)
