"""Refused customer proposals are limited per user (PROPOSAL_REFUSAL_RATE, counted in the real Redis):
within the limit each is answered 403 and the not-yours ones audited; past it every proposal of that
user is 429 RATE_LIMITED with Retry-After until the window ends, nothing more audited, each counted
once in command_proposals_refused_total. Over POST /api/v1/commands/propose and the portal's form."""

import pytest
from prometheus_client import REGISTRY

from audit.models import AuditEvent
from control.models import Command, ConsentPolicy
from control.proposal_throttle import ProposalRefusalThrottle
from control.tests.test_legacy_v1_commands import propose

pytestmark = pytest.mark.usefixtures("no_blast_radius_cap")
REFUSED = "control.command.proposal_refused"


@pytest.fixture
def tight(settings, world):
    settings.PROPOSAL_REFUSAL_RATE = "3/min"
    ConsentPolicy.objects.create(tenant=world.tenant_a, customer_types=["reboot"])
    ConsentPolicy.objects.create(tenant=world.tenant_b, customer_types=["reboot"])


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, pinned 10 s into a minute (so Retry-After is 50) and movable."""
    now = {"t": 1_800_000_000.0 - 1_800_000_000.0 % 60 + 10}
    monkeypatch.setattr(ProposalRefusalThrottle, "timer", lambda self: now["t"])
    return now


def counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("command_proposals_refused_total", {"outcome": outcome}) or 0.0


def assert_rate_limited(response, retry_after="50"):
    assert response.status_code == 429, response.content
    body = response.json()
    assert (body["success"], body["error_code"]) == (False, "RATE_LIMITED")
    assert response["Retry-After"] == retry_after


def test_a_customer_looping_on_anothers_miner_is_audited_three_times_then_429(as_user, world, tight, clock, customer_a):
    client = as_user(customer_a)
    theirs = [world.miners_b_x[0]]  # tenant B's miner at the shared site
    refused, throttled = counted("refused"), counted("throttled")
    answers = [propose(client, theirs) for _ in range(3)]
    assert [(r.status_code, r.json()["error_code"]) for r in answers] == [(403, "FORBIDDEN")] * 3
    for _ in range(5):
        assert_rate_limited(propose(client, theirs))
    assert AuditEvent.objects.filter(action=REFUSED).count() == 3
    assert (counted("refused") - refused, counted("throttled") - throttled) == (3, 5)
    # a proposal that would be accepted waits too, until the window ends
    assert_rate_limited(propose(client, world.miners_a_x[:1]))
    assert not Command.objects.exists()
    clock["t"] += 50
    assert propose(client, world.miners_a_x[:1]).status_code == 201
    assert Command.objects.count() == 1


def test_types_the_policy_does_not_allow_count_as_refusals(as_user, world, tight, clock, customer_a):
    client = as_user(customer_a)
    answers = [propose(client, world.miners_a_x[:1], "disable_hashing", {}) for _ in range(3)]
    assert {(r.status_code, r.json()["error_code"]) for r in answers} == {(403, "PROPOSAL_NOT_ALLOWED")}
    assert_rate_limited(propose(client, world.miners_a_x[:1]))


def test_one_customers_refusals_do_not_throttle_another(as_user, world, tight, clock, customer_a, customer_b):
    for _ in range(4):
        propose(as_user(customer_a), [world.miners_b_x[0]])
    assert propose(as_user(customer_b), world.miners_b_x[:1]).status_code == 201


def test_accepted_proposals_count_for_nothing(as_user, world, tight, clock, customer_a):
    client = as_user(customer_a)
    for miner in world.miners_a_x:
        assert propose(client, [miner]).status_code == 201
    assert [propose(client, [world.miners_b_x[0]]).status_code for _ in range(3)] == [403] * 3


def test_operators_are_not_counted(as_user, world, tight, clock, noc_x):
    client = as_user(noc_x)
    answers = [propose(client, world.miners_b_y[:1], site_id="SITE-Y").status_code for _ in range(5)]
    assert answers == [403] * 5


def test_an_empty_rate_switches_the_limit_off(as_user, world, tight, clock, customer_a, settings):
    settings.PROPOSAL_REFUSAL_RATE = ""
    client = as_user(customer_a)
    assert [propose(client, [world.miners_b_x[0]]).status_code for _ in range(6)] == [403] * 6
    assert AuditEvent.objects.filter(action=REFUSED).count() == 6


def test_the_portal_form_refuses_past_the_limit_without_auditing(as_user, world, tight, clock, customer_a):
    client = as_user(customer_a)
    url = f"/portal/t/{world.tenant_a.slug}/approvals/"
    form = {"action": "request", "site": "SITE-X", "command_type": "reboot", "reason": "stuck"}
    for _ in range(3):
        response = client.post(url, form | {"miner_id": world.miners_b_x[0].miner_id}, follow=True)
        assert "is not one of your miners" in response.content.decode()
    response = client.post(url, form | {"miner_id": world.miners_a_x[0].miner_id}, follow=True)
    assert "Too many refused requests: try again in 50 s." in response.content.decode()
    assert AuditEvent.objects.filter(action=REFUSED).count() == 3
    assert not Command.objects.exists()
    # the API shares the count: the same person is throttled there too
    assert_rate_limited(propose(client, world.miners_a_x[:1]))


def test_refusals_past_the_limit_that_slipped_the_gate_are_throttled_not_audited(
    as_user, world, tight, clock, customer_a
):
    # Parallel tries may all pass the gate before any is counted: the count itself refuses the surplus.
    from control.proposal_throttle import ProposalsThrottled, proposal_refusal_count

    for _ in range(3):
        proposal_refusal_count(customer_a)
    throttled = counted("throttled")
    with pytest.raises(ProposalsThrottled) as raised:
        proposal_refusal_count(customer_a)
    assert (raised.value.retry_in, counted("throttled") - throttled) == (50, 1)
