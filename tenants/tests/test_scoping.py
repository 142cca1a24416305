"""tenants.scoping answers "who sees what" for every persona; can() agrees with the querysets."""

import pytest
from django.contrib.auth.models import AnonymousUser

from conftest import grant
from tenants import scoping
from tenants.models import Collector, CollectorToken, Miner, MinerGroup, Role, Site, Tenant, Zone
from tenants.scoping import Capability
from tests.factories import UserFactory


@pytest.fixture
def technician_x1(world):
    return grant(UserFactory(username="tech-x1"), Role.TECHNICIAN, zone=world.zone_x1)


@pytest.fixture
def group_x(world):
    group = MinerGroup.objects.create(site=world.site_x, name="row-1")
    group.miners.set(world.miners_a_x)
    return group


def pks(qs):
    return set(qs.values_list("pk", flat=True))


def ids(objs):
    return {o.pk for o in objs}


def test_superuser_and_owner_see_every_row(world, superuser, owner, group_x):
    for user in (superuser, owner):
        assert pks(scoping.sites_for(user)) == pks(Site.objects.all())
        assert pks(scoping.zones_for(user)) == pks(Zone.objects.all())
        assert pks(scoping.miners_for(user)) == pks(Miner.objects.all())
        assert pks(scoping.tenants_for(user)) == pks(Tenant.objects.all())
        assert pks(scoping.collectors_for(user)) == pks(Collector.objects.all())
        assert pks(scoping.collector_tokens_for(user)) == pks(CollectorToken.objects.all())
        assert pks(scoping.miner_groups_for(user)) == {group_x.pk}
        assert pks(scoping.miners_for(user, Capability.MANAGE_INVENTORY)) == pks(Miner.objects.all())


def test_noc_of_site_x_sees_site_x_only(world, noc_x, group_x):
    assert pks(scoping.sites_for(noc_x)) == {world.site_x.pk}
    assert pks(scoping.zones_for(noc_x)) == {world.zone_x1.pk}
    assert pks(scoping.miners_for(noc_x)) == ids(world.miners_a_x + world.miners_b_x)
    assert pks(scoping.tenants_for(noc_x)) == {world.tenant_a.pk, world.tenant_b.pk}
    assert pks(scoping.collectors_for(noc_x)) == {world.collector_x.pk}
    assert pks(scoping.collector_tokens_for(noc_x)) == pks(CollectorToken.objects.filter(collector=world.collector_x))
    assert pks(scoping.miner_groups_for(noc_x)) == {group_x.pk}


def test_noc_may_operate_but_not_manage_inventory_tokens_or_grants(world, noc_x):
    assert pks(scoping.miners_for(noc_x, Capability.OPERATE)) == ids(world.miners_a_x + world.miners_b_x)
    assert pks(scoping.miners_for(noc_x, Capability.APPROVE)) == ids(world.miners_a_x + world.miners_b_x)
    assert not scoping.miners_for(noc_x, Capability.MANAGE_INVENTORY).exists()
    assert not scoping.collector_tokens_for(noc_x, Capability.MANAGE_TOKENS).exists()
    assert not scoping.role_grants_for(noc_x).exists()


def test_ops_manager_of_site_x_manages_grants_of_site_x_and_its_tenants(world, ops_manager_x, noc_x, noc_y, customer_a):
    visible = scoping.role_grants_for(ops_manager_x)
    assert set(visible.values_list("user__username", flat=True)) == {"opsmgr-x", "noc-x", "cust-a"}


def test_technician_of_zone_x1_sees_zone_x1_miners_only(world, technician_x1, group_x):
    assert pks(scoping.sites_for(technician_x1)) == {world.site_x.pk}
    assert pks(scoping.zones_for(technician_x1)) == {world.zone_x1.pk}
    assert pks(scoping.miners_for(technician_x1)) == ids(world.miners_a_x)
    assert pks(scoping.tenants_for(technician_x1)) == {world.tenant_a.pk}
    # The site's collector is not bound to the zone, nor is the site-level group.
    assert not scoping.collectors_for(technician_x1).exists()
    assert not scoping.miner_groups_for(technician_x1).exists()
    assert not scoping.miners_for(technician_x1, Capability.APPROVE).exists()


def test_customer_a_sees_only_tenant_a_miners_and_their_site_and_zone(world, customer_a, group_x):
    assert pks(scoping.miners_for(customer_a)) == ids(world.miners_a_x)
    assert pks(scoping.sites_for(customer_a)) == {world.site_x.pk}
    assert pks(scoping.zones_for(customer_a)) == {world.zone_x1.pk}
    assert pks(scoping.tenants_for(customer_a)) == {world.tenant_a.pk}


def test_customer_b_sees_tenant_b_miners_on_both_sites(world, customer_b):
    assert pks(scoping.miners_for(customer_b)) == ids(world.miners_b_x + world.miners_b_y)
    assert pks(scoping.sites_for(customer_b)) == {world.site_x.pk, world.site_y.pk}
    assert not scoping.zones_for(customer_b).exists()
    assert pks(scoping.tenants_for(customer_b)) == {world.tenant_b.pk}


@pytest.mark.parametrize("persona", ["customer_a", "customer_b"])
def test_customers_never_see_collectors_tokens_groups_or_grants(world, persona, request, group_x):
    user = request.getfixturevalue(persona)
    assert not scoping.collectors_for(user).exists()
    assert not scoping.collector_tokens_for(user).exists()
    assert not scoping.miner_groups_for(user).exists()
    assert not scoping.role_grants_for(user).exists()
    assert not scoping.audit_events_for(user).exists()


@pytest.mark.parametrize(
    "capability", [Capability.OPERATE, Capability.APPROVE, Capability.MANAGE_INVENTORY, Capability.MANAGE_TOKENS]
)
def test_customers_may_never_act(world, customer_a, capability):
    assert not scoping.scope_for(customer_a).has(capability)
    assert not scoping.miners_for(customer_a, capability).exists()
    assert not scoping.sites_for(customer_a, capability).exists()
    assert not scoping.tenants_for(customer_a, capability).exists()


def test_anonymous_and_inactive_users_see_nothing(world, noc_x):
    noc_x.is_active = False
    noc_x.save()
    for user in (AnonymousUser(), None, noc_x):
        for finder in (
            scoping.sites_for,
            scoping.zones_for,
            scoping.miners_for,
            scoping.tenants_for,
            scoping.collectors_for,
            scoping.collector_tokens_for,
        ):
            assert not finder(user).exists()
        assert not scoping.is_operator(user)


def test_operator_scope_sees_audit_events_of_its_sites_only(world, noc_x, owner):
    assert not scoping.audit_events_for(noc_x).filter(site_code="SITE-Y").exists()
    assert scoping.audit_events_for(noc_x).filter(site_code="SITE-X").exists()
    assert scoping.audit_events_for(owner).filter(site_code="SITE-Y").exists()


PERSONAS = ["superuser", "owner", "noc_x", "noc_y", "ops_manager_x", "technician_x1", "customer_a", "customer_b"]
CAPABILITIES = [Capability.VIEW, Capability.OPERATE, Capability.MANAGE_INVENTORY, Capability.MANAGE_TOKENS]


@pytest.mark.parametrize("persona", PERSONAS)
def test_can_agrees_with_the_querysets(world, persona, request, group_x):
    user = request.getfixturevalue(persona)
    objects = {
        scoping.sites_for: list(Site.objects.all()),
        scoping.zones_for: list(Zone.objects.all()),
        scoping.miners_for: list(Miner.objects.all()),
        scoping.tenants_for: list(Tenant.objects.all()),
        scoping.collectors_for: list(Collector.objects.all()),
        scoping.collector_tokens_for: list(CollectorToken.objects.all()),
        scoping.miner_groups_for: [group_x],
    }
    decided = 0
    for finder, rows in objects.items():
        for capability in CAPABILITIES:
            visible = pks(finder(user, capability))
            for obj in rows:
                assert scoping.can(user, capability, obj) == (obj.pk in visible), (finder.__name__, capability, obj)
                decided += 1
    assert decided == 4 * (2 + 1 + 7 + 3 + 2 + 2 + 1)
