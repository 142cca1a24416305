"""Inventory, grant and ownership services: the rules hold whoever calls them."""

import pytest

from audit.models import AuditEvent
from conftest import SETUP
from core.errors import Conflict, InvalidParameter
from tenants.models import Miner, MinerOwnership, Role, RoleGrant
from tenants.services import inventory_delete, inventory_save, miner_assign_owner, miners_register, role_grant_create
from tests.factories import UserFactory, ZoneFactory


def test_a_miner_cannot_sit_in_a_zone_of_another_site(world):
    with pytest.raises(InvalidParameter) as exc:
        inventory_save(
            actor=SETUP, obj=Miner(site=world.site_y, zone=world.zone_x1, tenant=world.tenant_b, miner_id="M1")
        )
    assert "zone" in exc.value.extra["fields"]
    assert not Miner.objects.filter(miner_id="M1").exists()


def test_a_duplicate_miner_id_in_one_site_is_refused(world):
    with pytest.raises(InvalidParameter):
        inventory_save(
            actor=SETUP, obj=Miner(site=world.site_x, tenant=world.tenant_a, miner_id=world.miners_a_x[0].miner_id)
        )


def test_a_site_code_never_changes(world):
    world.site_x.code = "SITE-RENAMED"
    with pytest.raises(InvalidParameter) as exc:
        inventory_save(actor=SETUP, obj=world.site_x, changed=["code"])
    assert exc.value.error_code == "IMMUTABLE_FIELD"


def test_a_miner_with_history_cannot_be_deleted(world):
    with pytest.raises(Conflict) as exc:
        inventory_delete(actor=SETUP, obj=world.miners_a_x[0])
    assert exc.value.error_code == "IN_USE"
    assert not AuditEvent.objects.filter(action="tenants.miner.deleted").exists()


def test_a_grant_with_a_zone_of_another_site_is_refused(world):
    zone_y = ZoneFactory(site=world.site_y, code="Y1")
    with pytest.raises(InvalidParameter):
        role_grant_create(actor=SETUP, user=UserFactory(), role=Role.NOC, site=world.site_x, zone=zone_y)
    assert not RoleGrant.objects.filter(zone=zone_y).exists()


@pytest.mark.parametrize(
    "scope",
    [
        {"role": Role.CUSTOMER},
        {"role": Role.NOC},
        {"role": Role.NOC, "tenant": "a"},
        {"role": Role.CUSTOMER, "all_sites": True, "tenant": "a"},
    ],
    ids=["customer-without-tenant", "operator-without-scope", "operator-with-tenant", "customer-at-all-sites"],
)
def test_a_grant_of_an_impossible_shape_is_refused(world, scope):
    if scope.get("tenant") == "a":
        scope["tenant"] = world.tenant_a
    with pytest.raises(InvalidParameter) as exc:
        role_grant_create(actor=SETUP, user=UserFactory(), **scope)
    assert exc.value.error_code == "INVALID_GRANT"


def test_granting_the_same_role_twice_is_a_conflict(world, noc_x):
    with pytest.raises(Conflict):
        role_grant_create(actor=SETUP, user=noc_x, role=Role.NOC, site=world.site_x)
    assert RoleGrant.objects.filter(user=noc_x).count() == 1


def test_registering_miners_skips_known_ids_and_writes_one_event(world):
    known = world.miners_b_x[0].miner_id
    fresh = miners_register(
        actor=SETUP,
        site=world.site_x,
        tenant=world.operator_tenant,
        rows=[{"miner_id": known}, {"miner_id": "NEW-1"}, {"miner_id": "NEW-2"}],
    )
    assert sorted(m.miner_id for m in fresh) == ["NEW-1", "NEW-2"]
    assert Miner.objects.get(site=world.site_x, miner_id=known).tenant == world.tenant_b
    event = AuditEvent.objects.get(action="tenants.miner.registered")
    assert event.payload["miner_ids"] == ["NEW-1", "NEW-2"]
    assert event.chain_key == f"tenant:{world.operator_tenant.pk}"
    assert (
        MinerOwnership.objects.filter(miner__miner_id__in=["NEW-1", "NEW-2"], tenant=world.operator_tenant).count() == 2
    )


def test_assigning_a_miner_to_its_current_owner_changes_nothing(world):
    assert miner_assign_owner(actor=SETUP, miners=world.miners_a_x, tenant=world.tenant_a) == 0
    assert MinerOwnership.objects.filter(miner__in=world.miners_a_x).count() == 3
    assert not AuditEvent.objects.filter(action="tenants.miner.owner_changed").exists()
