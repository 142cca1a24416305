"""POST /api/v1/commands/propose by a customer (the original's customer ABAC): on their own
miners, of the types their tenant's consent policy lets customers propose, landing `proposed`
with the owner's step given and waiting for an operator; another tenant's miner is 403, audited."""

import uuid

import pytest

from audit.models import AuditEvent
from audit.services import Actor
from control.models import Command, CommandState, ConsentPolicy
from control.services import decisions
from control.services.poll import command_poll_lease
from control.tests.factories import principal_for
from control.tests.test_legacy_v1_commands import propose

pytestmark = pytest.mark.usefixtures("no_blast_radius_cap")
S = CommandState


@pytest.fixture
def policy_a(world):
    return ConsentPolicy.objects.create(tenant=world.tenant_a, consent_types=[], customer_types=["reboot"])


def test_a_customer_proposes_on_their_own_miners_and_an_operator_approves(
    as_user, world, policy_a, customer_a, noc_x, client
):
    r = propose(as_user(customer_a), world.miners_a_x[:2])
    assert r.status_code == 201, r.json()
    body = r.json()
    assert set(body) == {
        "success",
        "command_id",
        "status",
        "require_approval",
        "require_dual_approval",
        "steps_required",
    }
    assert (body["status"], body["require_approval"], body["require_dual_approval"], body["steps_required"]) == (
        "PENDING_APPROVAL",
        True,
        True,
        2,
    )
    commands = list(Command.objects.filter(batch_id=uuid.UUID(body["command_id"])).order_by("pk"))
    assert [c.miner_id for c in commands] == sorted(m.pk for m in world.miners_a_x[:2])
    for c in commands:
        assert (c.state, c.created_by, c.owner_approved_by, c.approved_by) == (S.PROPOSED, customer_a, customer_a, None)
    assert command_poll_lease(principal=principal_for(world.collector_x), limit=10) == []
    events = AuditEvent.objects.filter(action="control.command.owner_approved", entity_id=str(commands[0].pk))
    assert [e.chain_key for e in events] == [f"tenant:{world.tenant_a.pk}"]
    assert events[0].payload["by"] == customer_a.pk

    for c in commands:
        decisions.command_approve(actor=Actor.user(noc_x), user=noc_x, command=c, reason="ok, rebooting")
    wires = command_poll_lease(principal=principal_for(world.collector_x), limit=10)
    assert sorted(w["command_id"] for w in wires) == sorted(str(c.pk) for c in commands)


def test_only_the_types_the_policy_lets_customers_propose(as_user, world, policy_a, customer_a):
    r = propose(as_user(customer_a), world.miners_a_x[:1], "disable_hashing", {})
    assert (r.status_code, r.json()["error_code"], r.json()["field"]) == (403, "PROPOSAL_NOT_ALLOWED", "command_type")
    assert "error" in r.json()
    assert not Command.objects.exists()


def test_another_tenants_miner_is_403_with_an_error_code_and_audited(as_user, world, policy_a, customer_a):
    ConsentPolicy.objects.create(tenant=world.tenant_b, customer_types=["reboot"])
    before = AuditEvent.objects.count()
    theirs = world.miners_b_x[0]  # tenant B's miner at the shared site X
    for targets, site in (
        ([theirs], "SITE-X"),
        ([world.miners_a_x[0], theirs], "SITE-X"),
        (world.miners_b_y, "SITE-Y"),
    ):
        r = propose(as_user(customer_a), targets, site_id=site)
        assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN"), r.json()
        assert "tenant-b" not in r.content.decode()
    assert not Command.objects.exists()
    refused = list(AuditEvent.objects.filter(action="control.command.proposal_refused").order_by("seq"))
    assert len(refused) == 3 and AuditEvent.objects.count() == before + 3
    assert {e.chain_key for e in refused} == {f"tenant:{world.tenant_a.pk}"}  # the customer's own chain only
    assert refused[0].payload["target_ids"] == [theirs.miner_id] and refused[0].payload["by"] == customer_a.pk
    assert not AuditEvent.objects.filter(chain_key=f"tenant:{world.tenant_b.pk}").exists()


def test_a_customer_replaying_the_idempotency_key_gets_the_same_command(as_user, world, policy_a, customer_a):
    client = as_user(customer_a)
    body = {
        "site_id": "SITE-X",
        "command_type": "REBOOT",
        "payload": {},
        "target_ids": [world.miners_a_x[0].miner_id],
        "idempotency_key": "cust-1",
    }
    first = client.post("/api/v1/commands/propose", body, content_type="application/json")
    again = client.post("/api/v1/commands/propose", body, content_type="application/json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["command_id"] == again.json()["command_id"]
    assert Command.objects.count() == 1


def test_a_user_without_grants_cannot_propose(client, world, policy_a):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="nobody"))
    r = propose(client, world.miners_a_x[:1])
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")


def test_a_customer_limited_to_miner_groups_does_not_propose(as_user, world, policy_a, ops_manager_x):
    # A proposal carries the owner's step, a whole-tenant Customer's act (docs/SECURITY.md, object grants).
    from tenants.models import MinerGroup, Role
    from tenants.object_grants import object_grant_create
    from tests.factories import UserFactory

    group = MinerGroup.objects.create(site=world.site_x, name="row-7")
    group.miners.set(world.miners_a_x[:2])
    limited = UserFactory(username="cust-a-row7")
    object_grant_create(
        actor=Actor.system("test"),
        granted_by=ops_manager_x,
        user=limited,
        role=Role.CUSTOMER,
        miner_group=group,
        tenant=world.tenant_a,
    )
    r = propose(as_user(limited), world.miners_a_x[:1])
    assert (r.status_code, r.json()["error_code"]) == (404, "NOT_FOUND")
    assert not Command.objects.exists()
