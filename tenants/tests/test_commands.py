"""manage.py collector_token_create and seed_demo."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from audit.models import AuditChain
from audit.verify import verify_chains
from tenants.models import Collector, CollectorToken, Miner, MinerOwnership, Role, RoleGrant, Site, Tenant, Zone


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_collector_token_create_prints_a_token_that_authenticates(client, world):
    out, err = run("collector_token_create", "--site", "SITE-X")
    token = out.strip()
    assert "\n" not in token
    assert "shown once" in err
    response = client.get("/api/collector/status", HTTP_X_COLLECTOR_KEY=token, HTTP_X_SITE_ID="SITE-X")
    assert response.status_code == 200
    assert response.json()["collector"] == "edge-x"
    assert not CollectorToken.objects.filter(token_hash=token).exists()


def test_collector_token_create_makes_a_named_collector_when_missing(client, world):
    out, _ = run("collector_token_create", "--site", "SITE-Y", "--collector", "edge-y2")
    assert Collector.objects.filter(site=world.site_y, name="edge-y2").exists()
    response = client.get("/api/collector/status", HTTP_AUTHORIZATION=f"Bearer {out.strip()}")
    assert response.json()["collector"] == "edge-y2"


def test_collector_token_create_refuses_an_unknown_site(world):
    with pytest.raises(CommandError, match="no site with code 'SITE-NOPE'"):
        run("collector_token_create", "--site", "SITE-NOPE")
    assert CollectorToken.objects.count() == 2


def test_collector_token_create_asks_for_a_name_when_a_site_has_several_collectors(world):
    Collector.objects.create(site=world.site_x, name="edge-x2")
    with pytest.raises(CommandError, match="--collector"):
        run("collector_token_create", "--site", "SITE-X")


@pytest.mark.django_db
def test_seed_demo_loads_tenants_sites_miners_and_one_user_per_role(client):
    out, _ = run("seed_demo", "--miners", "12", "--password", "Demo-pass-123")
    assert Tenant.objects.filter(is_operator=False).count() == 2
    assert Tenant.objects.filter(is_operator=True).count() == 1
    assert Site.objects.count() == 2
    for site in Site.objects.all():
        assert Zone.objects.filter(site=site).count() >= 2
        assert Collector.objects.filter(site=site).count() >= 1
        assert Miner.objects.filter(site=site).count() == 12
    assert MinerOwnership.objects.filter(valid_to__isnull=True).count() == 24

    users = [line.split("  ") for line in out.splitlines() if "  " in line and not line.startswith(" ")]
    roles = {role for role, _ in users}
    assert {"superuser", "Owner", "OpsManager", "NOC", "Technician", "CustomerSuccess", "Customer"} <= roles
    for _, username in users:
        assert get_user_model().objects.filter(username=username).exists()
    assert set(RoleGrant.objects.values_list("role", flat=True)) == set(Role.values)

    keys = list(AuditChain.objects.values_list("key", flat=True))
    assert keys
    assert all(result.ok for result in verify_chains(keys))

    # The printed credentials work.
    noc = next(name for role, name in users if role == "NOC")
    response = client.post("/accounts/login/", {"login": noc, "password": "Demo-pass-123"})
    assert response.status_code == 302


@pytest.mark.django_db
def test_seed_demo_twice_changes_nothing():
    run("seed_demo", "--miners", "3", "--password", "Demo-pass-123")
    count = Miner.objects.count()
    out, err = run("seed_demo", "--miners", "3", "--if-empty")
    assert "already loaded" in out
    assert Miner.objects.count() == count
