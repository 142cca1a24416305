"""Operator-side command lifecycle: validation, scoping, approval, arbitration, cancel, rollback,
batches, idempotency — every transition audited and the chains verifying."""

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor
from audit.verify import chain_keys, verify_chains
from control.errors import (
    ApprovalExpired,
    DedupeConflict,
    InvalidParams,
    InvalidTransition,
    MinerLocked,
    RollbackUnavailable,
    SelfApproval,
    UnsupportedBySite,
)
from control.models import (
    Command,
    CommandAttempt,
    CommandState,
    CommandType,
    PriorityClass,
)
from control.services import creation, decisions, rollback
from control.tests.factories import ControlCommandFactory
from core.errors import Forbidden
from tenants.models import MinerGroup
from tests.factories import MinerFactory

S = CommandState


@pytest.fixture(autouse=True)
def _no_blast_radius_cap(settings):
    # The site X world has 5 miners (cap 1 at 20 %); test_guardrails covers the cap itself.
    settings.COMMAND_BLAST_RADIUS_PCT = 100


def create(user, miner, command_type="set_fan", **kw):
    kw.setdefault("params", {"speed": 60} if command_type == "set_fan" else None)
    return creation.command_create(actor=Actor.user(user), user=user, miner=miner, command_type=command_type, **kw)


def events(command):
    return list(
        AuditEvent.objects.filter(entity_type="control.command", entity_id=str(command.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )


def assert_chains_verify():
    results = verify_chains(chain_keys())
    assert results and all(r.ok for r in results), [r.breaks for r in results if not r.ok]


# --- creation and validation -----------------------------------------------------------------------


def test_a_low_risk_command_is_queued_and_audited_as_created(world, noc_x):
    miner = world.miners_a_x[0]
    c = create(noc_x, miner, "set_fan", params={"speed": 80}, reason="hot aisle")
    assert (c.state, c.params, c.approval_required, c.deduplicated) == (S.QUEUED, {"speed": 80}, False, False)
    assert (c.tenant_id, c.site_id, c.zone_id, c.created_by_id) == (
        miner.tenant_id,
        miner.site_id,
        miner.zone_id,
        noc_x.pk,
    )
    assert c.expires_at == c.created_at + dt.timedelta(seconds=900)
    event = AuditEvent.objects.get(entity_type="control.command", entity_id=str(c.pk))
    assert (event.action, event.chain_key, event.payload["state"], event.actor_id) == (
        "control.command.created",
        f"tenant:{miner.tenant_id}",
        "queued",
        str(noc_x.pk),
    )
    assert_chains_verify()


def test_reboot_device_is_an_alias_of_reboot_and_needs_approval(world, noc_x):
    c = create(noc_x, world.miners_a_x[0], "reboot_device", reason="stuck")
    assert (c.command_type, c.state, c.approval_required) == (CommandType.REBOOT, S.PROPOSED, True)
    assert c.approval_expires_at == c.created_at + dt.timedelta(seconds=3600)
    assert c.expires_at == c.approval_expires_at  # a proposal lives until its approval window ends


@pytest.mark.parametrize(
    "command_type, params, field",
    [
        ("nuke", {}, "command_type"),
        ("set_frequency", {"frequency": 5000}, "params.frequency"),
        ("set_frequency", {"frequency": "600"}, "params.frequency"),
        ("set_frequency", {}, "params.frequency"),
        ("set_fan", {"speed": 101}, "params.speed"),
        ("set_fan", {"speed": True}, "params.speed"),
        ("set_pool", {"pool_url": "stratum+tcp://p:3333"}, "params.pool_user"),
        ("set_pool", {"pool_url": "stratum+tcp://p:3333,evil", "pool_user": "w"}, "params.pool_url"),
        ("set_pool", {"pool_url": "stratum+tcp://p:3333", "pool_user": "w", "pool_id": 1}, "params.pool_id"),
        ("set_pool", {}, "params.pool_url"),
        ("reboot", {"force": True}, "params.force"),
        ("enable_hashing", {"post_wait_sec": 30}, "params.post_wait_sec"),
        ("set_fan", [], "params"),
    ],
)
def test_invalid_params_name_the_field(world, noc_x, command_type, params, field):
    with pytest.raises(InvalidParams) as exc:
        create(noc_x, world.miners_a_x[0], command_type, params=params)
    assert exc.value.error_code == "INVALID_PARAMS"
    assert exc.value.extra["field"] == field
    assert not Command.objects.exists()


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"priority_class": 99}, "priority_class"),
        ({"emergency": True}, "emergency"),
        ({"ttl_sec": 5}, "ttl_sec"),
        ({"ttl_sec": 10**7}, "ttl_sec"),
    ],
)
def test_invalid_options_name_the_field(world, noc_x, kw, field):
    with pytest.raises(InvalidParams) as exc:
        create(noc_x, world.miners_a_x[0], "set_fan", **kw)
    assert exc.value.extra["field"] == field


def test_the_frequency_range_depends_on_the_model(world, noc_x):
    s9 = MinerFactory(site=world.site_x, tenant=world.tenant_a, model="S9j")
    odd = MinerFactory(site=world.site_x, tenant=world.tenant_a, model="Whatsminer X")
    with pytest.raises(InvalidParams):
        create(noc_x, s9, "set_frequency", params={"frequency": 820})
    assert create(noc_x, world.miners_a_x[0], "set_frequency", params={"frequency": 820}).params == {
        "frequency": 820
    }  # S21: up to 850
    assert create(noc_x, odd, "set_frequency", params={"frequency": 950}).state == S.QUEUED  # default range 100-1000


def test_pdu_commands_are_unsupported_by_every_site_for_now(world, noc_x):
    for t in ("power_off", "power_on"):
        with pytest.raises(UnsupportedBySite) as exc:
            create(noc_x, world.miners_a_x[0], t)
        assert exc.value.status_code == 422


@pytest.mark.parametrize("persona", ["customer_a", "noc_y"])
def test_people_without_operate_on_the_miner_are_forbidden(request, world, persona):
    user = request.getfixturevalue(persona)
    with pytest.raises(Forbidden):
        create(user, world.miners_a_x[0], "set_fan")  # customer A's own miner: customers never act
    assert not Command.objects.exists()


def test_scope_is_checked_before_params_so_a_foreign_miner_tells_nothing(world, noc_y):
    with pytest.raises(Forbidden):
        create(noc_y, world.miners_a_x[0], "set_frequency", params={"frequency": 99999})


def test_the_system_creates_without_a_person(world):
    c = creation.command_create(
        actor=Actor.system("rules"),
        user=None,
        miner=world.miners_a_x[0],
        command_type="enable_hashing",
        created_by_system="rules",
        rule_id=7,
    )
    assert (c.state, c.created_by_id, c.created_by_system, c.rule_id) == (S.QUEUED, None, "rules", 7)


# --- idempotency -----------------------------------------------------------------------------------


def test_the_same_dedupe_key_returns_the_active_command(world, noc_x):
    first = create(noc_x, world.miners_a_x[0], "set_fan", dedupe_key="rule-1:m1")
    again = create(noc_x, world.miners_a_x[0], "set_fan", dedupe_key="rule-1:m1")
    assert again.pk == first.pk and again.deduplicated
    assert Command.objects.count() == 1
    assert events(first) == ["control.command.created"]


def test_a_dedupe_key_in_use_by_another_type_or_miner_conflicts(world, noc_x):
    create(noc_x, world.miners_a_x[0], "set_fan", dedupe_key="k")
    with pytest.raises(DedupeConflict):
        create(noc_x, world.miners_a_x[0], "enable_hashing", dedupe_key="k")
    with pytest.raises(DedupeConflict):
        create(noc_x, world.miners_a_x[1], "set_fan", dedupe_key="k")
    assert Command.objects.count() == 1


def test_a_dedupe_key_is_free_again_once_the_command_ended(world, noc_x):
    first = create(noc_x, world.miners_a_x[0], "set_fan", dedupe_key="k")
    decisions.command_cancel(actor=Actor.user(noc_x), user=noc_x, command=first)
    assert create(noc_x, world.miners_a_x[0], "set_fan", dedupe_key="k").pk != first.pk


# --- approval --------------------------------------------------------------------------------------


def test_approval_queues_the_command_and_starts_its_ttl(world, noc_x, ops_manager_x):
    c = create(noc_x, world.miners_a_x[0], "reboot", reason="stuck", ttl_sec=600)
    c = decisions.command_approve(
        actor=Actor.user(ops_manager_x), user=ops_manager_x, command=c, reason="checked the miner"
    )
    assert (c.state, c.approved_by_id, c.decided_reason) == (S.QUEUED, ops_manager_x.pk, "checked the miner")
    assert abs((c.expires_at - c.approved_at).total_seconds() - 600) < 1
    assert events(c) == ["control.command.created", "control.command.approved", "control.command.queued"]
    assert_chains_verify()


def test_the_requester_cannot_approve_their_own_command(world, noc_x):
    c = create(noc_x, world.miners_a_x[0], "reboot")
    with pytest.raises(SelfApproval) as exc:
        decisions.command_approve(actor=Actor.user(noc_x), user=noc_x, command=c, reason="me")
    assert (exc.value.status_code, exc.value.error_code) == (403, "SELF_APPROVAL")
    assert Command.objects.get(pk=c.pk).state == S.PROPOSED


@pytest.mark.parametrize("persona", ["customer_a", "noc_y"])
def test_approval_needs_approve_on_the_miner(request, world, noc_x, persona):
    c = create(noc_x, world.miners_a_x[0], "reboot")
    user = request.getfixturevalue(persona)
    with pytest.raises(Forbidden):
        decisions.command_approve(actor=Actor.user(user), user=user, command=c, reason="x")


def test_approve_and_reject_need_a_reason(world, noc_x, ops_manager_x):
    c = create(noc_x, world.miners_a_x[0], "reboot")
    for service in (decisions.command_approve, decisions.command_reject):
        with pytest.raises(InvalidParams) as exc:
            service(actor=Actor.user(ops_manager_x), user=ops_manager_x, command=c, reason="  ")
        assert exc.value.extra["field"] == "reason"


def test_an_approval_after_the_window_expires_the_proposal(world, noc_x, ops_manager_x):
    c = create(noc_x, world.miners_a_x[0], "reboot")
    Command.objects.filter(pk=c.pk).update(approval_expires_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(ApprovalExpired):
        decisions.command_approve(actor=Actor.user(ops_manager_x), user=ops_manager_x, command=c, reason="late")
    c.refresh_from_db()
    assert (c.state, c.error_code, c.approved_by_id) == (S.EXPIRED, "APPROVAL_EXPIRED", None)
    assert events(c)[-1] == "control.command.expired"


def test_lapsed_proposals_expire_in_the_periodic_sweep(world, noc_x):
    due = create(noc_x, world.miners_a_x[0], "reboot")
    fresh = create(noc_x, world.miners_b_x[0], "disable_hashing")
    queued = create(noc_x, world.miners_a_x[1], "set_fan")
    Command.objects.filter(pk=due.pk).update(approval_expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert decisions.command_proposals_expire() == 1
    assert decisions.command_proposals_expire() == 0  # safe to run twice
    states = dict(Command.objects.values_list("pk", "state"))
    assert states == {due.pk: S.EXPIRED, fresh.pk: S.PROPOSED, queued.pk: S.QUEUED}


def test_a_rejected_proposal_keeps_the_approvers_reason(world, noc_x, ops_manager_x):
    c = create(noc_x, world.miners_a_x[0], "reboot")
    c = decisions.command_reject(
        actor=Actor.user(ops_manager_x), user=ops_manager_x, command=c, reason="not during the pool switch"
    )
    assert (c.state, c.decided_reason) == (S.REJECTED, "not during the pool switch")
    with pytest.raises(InvalidTransition):
        decisions.command_approve(
            actor=Actor.user(ops_manager_x), user=ops_manager_x, command=c, reason="changed my mind"
        )


# --- arbitration -----------------------------------------------------------------------------------


def test_a_higher_class_supersedes_lower_pending_commands(world, noc_x):
    miner = world.miners_a_x[0]
    low = create(noc_x, miner, "set_fan", priority_class=PriorityClass.CONVENIENCE)
    same = create(noc_x, miner, "set_frequency", params={"frequency": 600}, priority_class=PriorityClass.SAFETY)
    high = create(noc_x, miner, "set_fan", params={"speed": 100}, priority_class=PriorityClass.SAFETY)
    low.refresh_from_db(), same.refresh_from_db()
    assert (low.state, low.superseded_by_id) == (S.SUPERSEDED, same.pk)
    assert same.state == S.QUEUED  # same class: both wait, in order
    event = AuditEvent.objects.get(entity_id=str(low.pk), action="control.command.superseded")
    assert event.payload["decision"] == "superseded_by_higher_class" and event.payload["by"] == same.pk
    assert high.state == S.QUEUED


def test_a_lower_class_command_waits_behind_a_higher_pending_one(world, noc_x):
    miner = world.miners_a_x[0]
    safety = create(noc_x, miner, "set_fan", params={"speed": 100}, priority_class=PriorityClass.SAFETY)
    low = create(noc_x, miner, "set_frequency", params={"frequency": 600}, priority_class=PriorityClass.EFFICIENCY)
    assert low.state == S.QUEUED
    assert low.blocked_reason == f"blocked by #{safety.pk} (Safety)"
    assert Command.objects.get(pk=safety.pk).state == S.QUEUED


def _leased(miner, state=S.DISPATCHED, collector=None):
    c = ControlCommandFactory(
        miner=miner,
        state=state,
        lease_epoch=1,
        lease_collector=collector,
        lease_until=timezone.now() + dt.timedelta(minutes=5),
    )
    if collector is not None:
        now = timezone.now()
        CommandAttempt.objects.create(
            command=c,
            attempt=1,
            wire_id=str(c.pk),
            lease_epoch=1,
            collector=collector,
            leased_at=now,
            lease_until=now + dt.timedelta(minutes=5),
        )
    return c


def test_a_leased_command_locks_the_miner_against_ordinary_commands(world, noc_x):
    leased = _leased(world.miners_a_x[0])
    with pytest.raises(MinerLocked) as exc:
        create(noc_x, world.miners_a_x[0], "set_fan", params={"speed": 100}, priority_class=PriorityClass.SAFETY)
    assert f"#{leased.pk}" in exc.value.message
    assert Command.objects.get(pk=leased.pk).state == S.DISPATCHED


def test_an_emergency_safety_command_preempts_a_dispatched_one(world, noc_x):
    leased = _leased(world.miners_a_x[0], collector=world.collector_x)
    pending = create(noc_x, world.miners_a_x[1], "set_fan")  # another miner: untouched
    urgent = create(noc_x, world.miners_a_x[0], "disable_hashing", priority_class=PriorityClass.SAFETY, emergency=True)
    leased.refresh_from_db()
    assert leased.state == S.CANCELED
    assert leased.attempts.get().lease_end_reason == "canceled"
    event = AuditEvent.objects.get(entity_id=str(leased.pk), action="control.command.canceled")
    assert event.payload["decision"] == "preempted_by_emergency" and event.payload["edge_may_still_execute"] is True
    assert event.payload["by"] == urgent.pk
    assert Command.objects.get(pk=pending.pk).state == S.QUEUED


def test_an_emergency_ends_a_running_command_failed(world, noc_x):
    running = _leased(world.miners_a_x[0], state=S.RUNNING)
    create(noc_x, world.miners_a_x[0], "disable_hashing", priority_class=PriorityClass.SAFETY, emergency=True)
    running.refresh_from_db()
    assert (running.state, running.error_code) == (S.FAILED, "PREEMPTED_BY_EMERGENCY")


# --- cancel ----------------------------------------------------------------------------------------


def test_pending_commands_cancel_and_leased_ones_need_a_reason(world, noc_x):
    queued = create(noc_x, world.miners_a_x[0], "set_fan")
    assert decisions.command_cancel(actor=Actor.user(noc_x), user=noc_x, command=queued).state == S.CANCELED
    leased = _leased(world.miners_a_x[1], collector=world.collector_x)
    with pytest.raises(InvalidParams):
        decisions.command_cancel(actor=Actor.user(noc_x), user=noc_x, command=leased)
    leased = decisions.command_cancel(actor=Actor.user(noc_x), user=noc_x, command=leased, reason="wrong miner")
    assert leased.state == S.CANCELED and leased.attempts.get().lease_end_reason == "canceled"
    assert (
        AuditEvent.objects.get(entity_id=str(leased.pk), action="control.command.canceled").payload["was_leased"]
        is True
    )
    done = ControlCommandFactory(miner=world.miners_a_x[2], state=S.SUCCEEDED)
    with pytest.raises(InvalidTransition):
        decisions.command_cancel(actor=Actor.user(noc_x), user=noc_x, command=done, reason="too late")


def test_cancel_needs_operate_on_the_miner(world, noc_x, noc_y):
    c = create(noc_x, world.miners_a_x[0], "set_fan")
    with pytest.raises(Forbidden):
        decisions.command_cancel(actor=Actor.user(noc_y), user=noc_y, command=c)


# --- rollback --------------------------------------------------------------------------------------


def test_rolling_back_a_disable_queues_an_enable_linked_to_it(world, noc_x):
    original = ControlCommandFactory(miner=world.miners_a_x[0], command_type="disable_hashing", state=S.SUCCEEDED)
    undo = rollback.command_rollback(actor=Actor.user(noc_x), user=noc_x, command=original, reason="curtailment over")
    original.refresh_from_db()
    assert (undo.command_type, undo.state, undo.rollback_of_id) == ("enable_hashing", S.QUEUED, original.pk)
    assert original.state == S.ROLLED_BACK
    assert (
        AuditEvent.objects.get(entity_id=str(original.pk), action="control.command.rolled_back").payload["rollback"]
        == undo.pk
    )
    with pytest.raises(InvalidTransition):
        rollback.command_rollback(actor=Actor.user(noc_x), user=noc_x, command=original, reason="again")


def test_rolling_back_an_enable_is_a_disable_and_needs_approval(world, noc_x):
    original = ControlCommandFactory(miner=world.miners_a_x[0], command_type="enable_hashing", state=S.SUCCEEDED)
    undo = rollback.command_rollback(actor=Actor.user(noc_x), user=noc_x, command=original, reason="too early")
    assert (undo.command_type, undo.state) == ("disable_hashing", S.PROPOSED)


def test_a_pool_switch_rolls_back_to_the_pool_in_the_ack_before_snapshot(world, noc_x):
    original = ControlCommandFactory(
        miner=world.miners_a_x[0],
        command_type="set_pool",
        params={"pool_url": "stratum+tcp://new:3333", "pool_user": "acct.w1"},
        state=S.SUCCEEDED,
        before_snapshot={"online": True, "pool_url": "stratum+tcp://old:3333", "worker_name": "acct.old"},
    )
    undo = rollback.command_rollback(actor=Actor.user(noc_x), user=noc_x, command=original, reason="wrong pool")
    assert undo.params == {"pool_url": "stratum+tcp://old:3333", "pool_user": "acct.old"}


def test_frequency_and_fan_roll_back_to_the_value_before(world, noc_x):
    miner = world.miners_a_x[0]
    freq = ControlCommandFactory(
        miner=miner,
        command_type="set_frequency",
        params={"frequency": 500},
        state=S.SUCCEEDED,
        evidence={"before_telemetry": {"frequency_avg": 612.4}},
    )
    assert rollback.command_rollback(actor=Actor.user(noc_x), user=noc_x, command=freq, reason="r").params == {
        "frequency": 612
    }
    ControlCommandFactory(
        miner=miner,
        command_type="set_fan",
        params={"speed": 40},
        state=S.SUCCEEDED,
        created_at=timezone.now() - dt.timedelta(hours=1),
    )
    fan = ControlCommandFactory(miner=miner, command_type="set_fan", params={"speed": 90}, state=S.SUCCEEDED)
    assert rollback.command_rollback(actor=Actor.user(noc_x), user=noc_x, command=fan, reason="r").params == {
        "speed": 40
    }


@pytest.mark.parametrize("command_type, params", [("reboot", {}), ("set_fan", {"speed": 90})])
def test_without_a_before_value_rollback_is_unavailable(world, noc_x, command_type, params):
    original = ControlCommandFactory(
        miner=world.miners_a_x[0], command_type=command_type, params=params, state=S.SUCCEEDED
    )
    with pytest.raises(RollbackUnavailable):
        rollback.command_rollback(actor=Actor.user(noc_x), user=noc_x, command=original, reason="r")
    assert Command.objects.get(pk=original.pk).state == S.SUCCEEDED


# --- batches ---------------------------------------------------------------------------------------


def test_a_preview_lists_targets_skips_and_power_and_creates_nothing(world, noc_x):
    miners = world.miners_a_x + world.miners_b_x
    leased = _leased(miners[0])
    before = (Command.objects.count(), AuditEvent.objects.count())
    p = creation.command_batch_preview(user=noc_x, miners=miners, command_type="disable_hashing")
    assert [m.pk for m in p.miners] == [m.pk for m in miners[1:]]
    assert [(s.miner.pk, s.error_code) for s in p.skipped] == [(miners[0].pk, "MINER_LOCKED")]
    assert f"#{leased.pk}" in p.skipped[0].reason
    assert p.estimated_kw == 14.0  # 4 × 3,500 W
    assert p.approval_required and p.state == S.PROPOSED
    assert (Command.objects.count(), AuditEvent.objects.count()) == before


def test_a_batch_creates_one_command_per_miner_with_one_batch_id_in_one_audit_append(world, noc_x):
    miners = world.miners_a_x + world.miners_b_x
    result = creation.command_batch_create(
        actor=Actor.user(noc_x),
        user=noc_x,
        miners=miners,
        command_type="set_fan",
        params={"speed": 70},
        reason="summer",
    )
    assert len(result.created) == 5 and not result.skipped
    assert {c.batch_id for c in result.created} == {result.batch_id}
    assert {c.state for c in result.created} == {S.QUEUED}
    created = AuditEvent.objects.filter(action="control.command.created").order_by("chain_key", "seq")
    assert created.count() == 5
    # one append: one timestamp, consecutive sequence numbers in each tenant's chain
    assert len({e.occurred_at for e in created}) == 1
    for key in {e.chain_key for e in created}:
        seqs = [e.seq for e in created if e.chain_key == key]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert_chains_verify()


def test_a_group_batch_over_the_approval_size_is_proposed(world, noc_x, settings):
    settings.COMMAND_APPROVAL_BATCH_MINERS = 2
    group = MinerGroup.objects.create(site=world.site_x, name="row 1")
    group.miners.set(world.miners_a_x)
    result = creation.command_batch_create(
        actor=Actor.user(noc_x), user=noc_x, group=group, command_type="set_fan", params={"speed": 70}
    )
    assert {c.state for c in result.created} == {S.PROPOSED}
    assert {c.group_id for c in result.created} == {group.pk}
    assert result.approval_reasons == ["batch of 3 miners (over 2)"]


def test_a_batch_over_the_power_threshold_needs_approval(world, noc_x, settings):
    settings.COMMAND_APPROVAL_KW = 5
    p = creation.command_batch_preview(user=noc_x, miners=world.miners_a_x[:2], command_type="enable_hashing")
    assert p.approval_reasons == ["estimated power impact 7 kW (over 5 kW)"]
    assert not creation.command_batch_preview(
        user=noc_x, miners=world.miners_a_x[:2], command_type="set_fan", params={"speed": 1}
    ).approval_required


def test_a_batch_with_a_foreign_miner_is_forbidden_as_a_whole(world, noc_x):
    with pytest.raises(Forbidden):
        creation.command_batch_create(
            actor=Actor.user(noc_x),
            user=noc_x,
            miners=[world.miners_a_x[0], world.miners_b_y[0]],
            command_type="set_fan",
            params={"speed": 1},
        )
    assert not Command.objects.exists()


def test_a_replayed_batch_with_a_dedupe_key_returns_the_same_commands(world, noc_x):
    kw = {"miners": world.miners_a_x, "command_type": "set_fan", "params": {"speed": 70}, "dedupe_key": "summer"}
    first = creation.command_batch_create(actor=Actor.user(noc_x), user=noc_x, **kw)
    again = creation.command_batch_create(actor=Actor.user(noc_x), user=noc_x, **kw)
    assert not again.created and sorted(c.pk for c in again.existing) == sorted(c.pk for c in first.created)
    assert again.batch_id == first.batch_id
    assert Command.objects.count() == 3


# --- metrics ---------------------------------------------------------------------------------------


def test_creations_are_counted_on_commit_and_queue_lag_is_the_oldest_ready_age(
    world, noc_x, django_capture_on_commit_callbacks
):
    from control import metrics

    counter = metrics.commands_created_total.labels("set_fan")
    before = counter._value.get()
    with django_capture_on_commit_callbacks(execute=True):
        creation.command_batch_create(
            actor=Actor.user(noc_x), user=noc_x, miners=world.miners_a_x, command_type="set_fan", params={"speed": 1}
        )
    assert counter._value.get() == before + 3
    assert metrics.queue_lag_refresh() < 5
    oldest = Command.objects.order_by("pk").first()
    Command.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - dt.timedelta(seconds=120))
    assert 119 < metrics.queue_lag_refresh() < 125
    assert 119 < metrics.queue_lag_seconds._value.get() < 125
    Command.objects.filter(pk=oldest.pk).update(
        not_before=timezone.now() + dt.timedelta(seconds=60)
    )  # backing off: not ready
    assert metrics.queue_lag_refresh() < 5
