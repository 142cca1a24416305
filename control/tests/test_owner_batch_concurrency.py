"""The owner's decision on a batch is one transaction (control.services.consent.command_owner_decide_batch):
real threads with their own connections decide the same batch at the same time — two owners (one
approves, one denies), or the owner and an operator rejecting one of its commands — and the batch
ends all approved or all rejected by its owner, never half of each."""

import threading
from functools import partial

import pytest
from django.db import connection

from audit.services import Actor
from control.errors import BatchNotDecidable, InvalidTransition
from control.models import Command, CommandState, ConsentPolicy
from control.services import consent, creation, decisions
from tenants.models import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
S = CommandState
ROUNDS = 6


@pytest.fixture
def setup(settings, world, noc_x):
    from conftest import grant

    settings.COMMAND_BLAST_RADIUS_PCT = 100
    ConsentPolicy.objects.create(tenant=world.tenant_a, consent_types=["set_fan"])
    return grant(UserFactory(username="cust-a2"), Role.CUSTOMER, tenant=world.tenant_a)


def _batch(world, noc, n):
    result = creation.command_batch_create(
        actor=Actor.user(noc),
        user=noc,
        miners=world.miners_a_x,
        command_type="set_fan",
        params={"speed": 40 + n},
        reason=f"round {n}",
    )
    return sorted(result.created, key=lambda c: c.pk)


def _race(*calls) -> list:
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            call()
            outcomes[i] = "ok"
        except (BatchNotDecidable, InvalidTransition) as exc:
            outcomes[i] = exc.error_code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return outcomes


def test_two_owners_deciding_one_batch_at_once_never_split_it(world, setup, noc_x, customer_a):
    other = setup
    for n in range(ROUNDS):
        commands = _batch(world, noc_x, n)

        outcomes = _race(
            *(
                partial(
                    consent.command_owner_decide_batch,
                    actor=Actor.user(user),
                    user=user,
                    commands=commands,
                    approve=approve,
                    reason="race",
                )
                for user, approve in ((customer_a, True), (other, False))
            )
        )
        assert sorted(outcomes) == ["INVALID_TRANSITION", "ok"], outcomes
        rows = list(Command.objects.filter(pk__in=[c.pk for c in commands]))
        states = {(c.state, c.owner_approved_by_id) for c in rows}
        if outcomes[0] == "ok":  # the approval won: all approved by the owner, none rejected
            assert states == {(S.PROPOSED, customer_a.pk)}
        else:
            assert states == {(S.REJECTED, None)}


def test_an_operator_rejecting_one_command_during_the_owners_batch_approval(
    world, setup, noc_x, ops_manager_x, customer_a
):
    for n in range(ROUNDS):
        commands = _batch(world, noc_x, n)
        middle = commands[1]
        outcomes = _race(
            partial(
                consent.command_owner_decide_batch,
                actor=Actor.user(customer_a),
                user=customer_a,
                commands=commands,
                approve=True,
                reason="go",
            ),
            partial(
                decisions.command_reject,
                actor=Actor.user(ops_manager_x),
                user=ops_manager_x,
                command=middle,
                reason="no",
            ),
        )
        rows = {c.pk: c for c in Command.objects.filter(pk__in=[c.pk for c in commands])}
        assert rows[middle.pk].state == S.REJECTED and outcomes[1] == "ok"
        owners = {rows[c.pk].owner_approved_by_id for c in commands}
        if outcomes[0] == "ok":  # the owner's batch committed first: all three carry the owner's step
            assert owners == {customer_a.pk}
        else:  # the reject came first: nothing of the batch was approved
            assert outcomes[0] == "BATCH_NOT_DECIDABLE" and owners == {None}
