"""Customer consent: the owner's approval step beside the operator's (control.services.consent)."""

import pytest

from audit.models import AuditEvent
from audit.services import Actor
from control import selectors
from control.errors import InvalidParams, InvalidTransition, NotYours, ProposalNotAllowed, SelfApproval
from control.models import CommandState, ConsentPolicy, PriorityClass
from control.services import consent, decisions
from control.services.owner_proposals import command_owner_propose
from control.services.poll import command_poll_lease
from control.tests.factories import operator_command, principal_for
from core.errors import Forbidden

S = CommandState


@pytest.fixture(autouse=True)
def _no_blast_radius_cap(settings):
    settings.COMMAND_BLAST_RADIUS_PCT = 100


@pytest.fixture
def policy_a(world):
    return ConsentPolicy.objects.create(
        tenant=world.tenant_a, consent_types=["set_fan", "reboot"], customer_types=["reboot"]
    )


def approve(user, c, reason="ok"):
    return decisions.command_approve(actor=Actor.user(user), user=user, command=c, reason=reason)


def owner_approve(user, c, reason="fine by me"):
    return consent.command_owner_approve(actor=Actor.user(user), user=user, command=c, reason=reason)


def polled(world) -> list[str]:
    return [w["command_id"] for w in command_poll_lease(principal=principal_for(world.collector_x), limit=10)]


def actions(c) -> list[str]:
    return list(
        AuditEvent.objects.filter(entity_type="control.command", entity_id=str(c.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )


def test_a_low_risk_command_on_a_consent_miner_waits_for_both_steps_then_is_polled(
    world, policy_a, noc_x, ops_manager_x, customer_a
):
    c = operator_command(noc_x, world.miners_a_x[0])  # set_fan: no operator approval of its own
    assert (c.state, c.approval_required, c.owner_consent_required) == (S.PROPOSED, True, True)
    assert polled(world) == []

    c = approve(ops_manager_x, c)
    c.refresh_from_db()
    assert c.state == S.PROPOSED and c.approved_by == ops_manager_x  # the operator's step, still waiting
    assert polled(world) == []

    c = owner_approve(customer_a, c)
    c.refresh_from_db()
    assert c.state == S.QUEUED and c.owner_approved_by == customer_a
    assert polled(world) == [str(c.pk)]
    assert actions(c)[:5] == [
        "control.command.created",
        "control.command.operator_approved",
        "control.command.owner_approved",
        "control.command.approved",
        "control.command.queued",
    ]
    owner_event = AuditEvent.objects.get(action="control.command.owner_approved", entity_id=str(c.pk))
    assert owner_event.chain_key == f"tenant:{world.tenant_a.pk}"
    assert owner_event.payload["step"] == "owner_approval" and owner_event.payload["by"] == customer_a.pk


def test_the_owner_may_approve_first_and_the_operator_then_queues_it(world, policy_a, noc_x, ops_manager_x, customer_a):
    c = operator_command(noc_x, world.miners_a_x[0], "reboot")
    owner_approve(customer_a, c)
    c.refresh_from_db()
    assert c.state == S.PROPOSED
    approve(ops_manager_x, c)
    c.refresh_from_db()
    assert c.state == S.QUEUED


def test_the_owner_denies_and_the_command_is_rejected_never_dispatched(
    world, policy_a, noc_x, ops_manager_x, customer_a
):
    c = operator_command(noc_x, world.miners_a_x[0])
    approve(ops_manager_x, c)
    consent.command_owner_deny(actor=Actor.user(customer_a), user=customer_a, command=c, reason="not now")
    c.refresh_from_db()
    assert c.state == S.REJECTED and c.owner_decided_reason == "not now"
    assert polled(world) == []
    assert "control.command.owner_denied" in actions(c)
    with pytest.raises(InvalidTransition):
        owner_approve(customer_a, c)


def test_the_operator_denies_and_the_owner_can_no_longer_approve(world, policy_a, noc_x, ops_manager_x, customer_a):
    c = operator_command(noc_x, world.miners_a_x[0])
    decisions.command_reject(actor=Actor.user(ops_manager_x), user=ops_manager_x, command=c, reason="no")
    with pytest.raises(InvalidTransition):
        owner_approve(customer_a, c)


def test_a_customer_of_another_tenant_cannot_approve_or_deny(world, policy_a, noc_x, customer_b):
    c = operator_command(noc_x, world.miners_a_x[0])
    with pytest.raises(NotYours):
        owner_approve(customer_b, c)
    with pytest.raises(NotYours):
        consent.command_owner_deny(actor=Actor.user(customer_b), user=customer_b, command=c, reason="x")
    c.refresh_from_db()
    assert c.state == S.PROPOSED and c.owner_approved_by is None


def test_the_operator_step_twice_is_refused_and_the_owner_step_needs_a_reason(
    world, policy_a, noc_x, ops_manager_x, customer_a
):
    c = operator_command(noc_x, world.miners_a_x[0])
    approve(ops_manager_x, c)
    with pytest.raises(InvalidTransition):
        approve(ops_manager_x, c)
    with pytest.raises(InvalidParams):
        owner_approve(customer_a, c, reason=" ")


def test_miners_of_tenants_without_a_policy_and_exempt_classes_are_not_held(world, policy_a, noc_x):
    b = operator_command(noc_x, world.miners_b_x[0])
    assert (b.state, b.owner_consent_required) == (S.QUEUED, False)
    dr = operator_command(noc_x, world.miners_a_x[1], "disable_hashing", priority_class=PriorityClass.COMPLIANCE)
    assert dr.owner_consent_required is False  # Compliance/DR (curtailment) is exempt
    safety = operator_command(noc_x, world.miners_a_x[2], "set_fan", priority_class=PriorityClass.SAFETY)
    assert (safety.state, safety.owner_consent_required) == (S.QUEUED, False)


def test_a_customer_proposal_waits_for_an_operator_and_is_never_self_approved(world, policy_a, noc_x, customer_a):
    miner = world.miners_a_x[0]
    c = command_owner_propose(
        actor=Actor.user(customer_a), user=customer_a, miner=miner, command_type="reboot", reason="stuck"
    )
    c.refresh_from_db()
    assert (c.state, c.created_by, c.owner_approved_by) == (S.PROPOSED, customer_a, customer_a)
    with pytest.raises((SelfApproval, InvalidTransition)):
        owner_approve(customer_a, c)
    with pytest.raises(Forbidden):
        approve(customer_a, c)  # a customer holds no APPROVE
    c.refresh_from_db()
    assert c.state == S.PROPOSED
    approve(noc_x, c)
    c.refresh_from_db()
    assert c.state == S.QUEUED and c.approved_by == noc_x
    assert polled(world) == [str(c.pk)]


def test_a_customer_may_propose_only_allowed_types_on_their_own_miners(world, policy_a, customer_a, customer_b):
    with pytest.raises(ProposalNotAllowed):
        command_owner_propose(
            actor=Actor.user(customer_a),
            user=customer_a,
            miner=world.miners_a_x[0],
            command_type="set_fan",
            params={"speed": 50},
            reason="x",
        )
    with pytest.raises(NotYours):
        command_owner_propose(
            actor=Actor.user(customer_b), user=customer_b, miner=world.miners_a_x[0], command_type="reboot", reason="x"
        )


def test_pending_owner_approvals_lists_only_the_customers_own(world, policy_a, noc_x, customer_a, customer_b):
    c = operator_command(noc_x, world.miners_a_x[0])
    assert list(selectors.pending_owner_approvals(customer_a)) == [c]
    assert list(selectors.pending_owner_approvals(customer_b)) == []


def test_rule_engine_proposals_wait_for_the_owner_only_on_consent_miners(world, policy_a):
    from control.services.proposals import command_propose_each

    a, b = world.miners_a_x[0], world.miners_b_x[0]
    out = command_propose_each(
        actor=Actor.system("rules"),
        miners=[a, b],
        evidence={},
        command_type="set_fan",
        params={"speed": 80},
        dedupe_key="rule-7",
        reason="hot aisle",
        priority_class=PriorityClass.EFFICIENCY,
        created_by_system="rules",
    )
    ca, cb = out[a.pk].command, out[b.pk].command
    assert (ca.state, ca.owner_consent_required) == (S.PROPOSED, True)
    assert (cb.state, cb.owner_consent_required, cb.approval_expires_at) == (S.QUEUED, False, None)
