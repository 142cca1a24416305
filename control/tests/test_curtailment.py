"""Curtailments (SPEC §6.3): the record, its approval, the tick that starts and ends it, the kW shed
read back from telemetry, the downtime its commands cause, and the operator API."""

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection

from audit.models import AuditEvent
from audit.services import Actor
from conftest import grant
from control.models import Command, CommandState, CommandType, Curtailment, CurtailmentState, PriorityClass
from control.services.ack import command_ack
from control.services.curtailment import (
    curtailment_approve,
    curtailment_cancel,
    curtailment_create,
    curtailments_tick,
)
from control.services.curtailment_power import curtailment_shed
from control.services.poll import command_poll_lease
from control.tests.factories import principal_for
from core.errors import DomainError
from telemetry.models import IngestBatch, TelemetryLive
from telemetry.tests.tier_rows import insert_1m
from tenants.models import Role, Site
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 12, 8, 14, 0, tzinfo=dt.UTC)  # every curtailment here starts at T0, ends at T0 + 1 h
NOMINAL_GHS = 200_000.0  # MinerFactory: 200 TH/s at 3500 W
ACK = {"status": "completed", "result_code": 0, "result_message": "ok", "site_id": "SITE-X"}


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def live(miner, hashrate: float | None = NOMINAL_GHS, *, online: bool = True, ts: dt.datetime | None = None):
    TelemetryLive.objects.update_or_create(
        miner=miner,
        defaults={
            "site_id": miner.site_id,
            "tenant_id": miner.tenant_id,
            "ts": ts or at(-0.5),
            "received_at": ts or at(-0.5),
            "online": online,
            "hashrate_5s_ghs": hashrate if online else None,
        },
    )


@pytest.fixture
def fleet(world, settings):
    """Site X's five miners reporting: their estimated draws 3500, 3150, 1750 (A) and 3325 W (B),
    the second B miner offline. The blast-radius cap lifted (a test below puts it back)."""
    settings.COMMAND_BLAST_RADIUS_PCT = 100
    a0, a1, a2 = world.miners_a_x
    b0, b1 = world.miners_b_x
    for miner, share in ((a0, 1.0), (a1, 0.9), (a2, 0.5), (b0, 0.95)):
        live(miner, NOMINAL_GHS * share)
    live(b1, online=False)
    return world


def create(user, *, start=T0, end=None, target_kw=6.0, reason="DR-42 grid operator request", **scope):
    with time_machine.travel(start - dt.timedelta(minutes=10), tick=False):
        return curtailment_create(
            actor=Actor.user(user),
            user=user,
            site=Site.objects.get(code="SITE-X"),
            start_at=start,
            end_at=end or start + dt.timedelta(hours=1),
            reason=reason,
            target_kw=target_kw,
            **scope,
        )


def approved(c, approver):
    with time_machine.travel(c.start_at - dt.timedelta(minutes=5), tick=False):
        return curtailment_approve(actor=Actor.user(approver), user=approver, curtailment=c, reason="checked with grid")


def tick(minutes: float):
    with time_machine.travel(at(minutes), tick=False):
        return curtailments_tick(now=at(minutes))


def commands(kind=None):
    qs = Command.objects.filter(created_by_system="curtailment").order_by("miner_id")
    return list(qs.filter(command_type=kind) if kind else qs)


def lease(world, minutes: float, limit: int = 100) -> list[dict]:
    with time_machine.travel(at(minutes), tick=False):
        return command_poll_lease(principal=principal_for(world.collector_x), limit=limit)


# --- start and end ------------------------------------------------------------------------------


def test_the_tick_disables_the_biggest_miners_up_to_the_target_at_start_and_not_before(fleet, noc_x, ops_manager_x):
    a0, b0 = fleet.miners_a_x[0], fleet.miners_b_x[0]
    c = approved(create(noc_x, target_kw=6.0), ops_manager_x)
    assert [r["miner"] for r in c.chosen] == [a0.pk, b0.pk]  # the plan: 3500 + 3325 W ≥ 6 kW
    assert tick(-1)["started"] == 0
    assert commands() == []
    assert tick(0)["started"] == 1
    c.refresh_from_db()
    disables = commands(CommandType.DISABLE_HASHING)
    assert [d.miner_id for d in disables] == sorted([a0.pk, b0.pk])
    assert sum(r["power_w"] for r in c.chosen) >= 6000
    assert c.state == CurtailmentState.ACTIVE and c.expected_kw == 6.825
    assert c.not_chosen == {"offline or stale": 1, "target already reached": 2}
    for d in disables:
        assert d.priority_class == PriorityClass.COMPLIANCE
        assert d.batch_id == c.disable_batch_id
        assert d.state == CommandState.QUEUED  # proposed as high-risk, approved with the record's approval
        assert d.approved_by == ops_manager_x and d.created_by is None
        assert d.expires_at <= c.end_at
    assert tick(1)["started"] == 0  # a later tick acts no more
    assert len(commands()) == 2


def test_an_unapproved_curtailment_never_starts_and_lapses_at_its_end(fleet, noc_x):
    c = create(noc_x)
    assert tick(0)["started"] == 0 and commands() == []
    assert tick(61)["expired"] == 1
    c.refresh_from_db()
    assert c.state == CurtailmentState.CANCELED and c.end_reason == "not approved before its end"


def test_at_the_end_the_miners_whose_disable_went_out_get_enable_hashing(fleet, noc_x, ops_manager_x):
    c = approved(create(noc_x), ops_manager_x)
    tick(0)
    first, second = commands(CommandType.DISABLE_HASHING)
    wires = lease(fleet, 1, limit=1)  # one disable reaches the collector; the other is still queued at the end
    leased = Command.objects.get(pk=int(wires[0]["command_id"]))
    with time_machine.travel(at(1.5), tick=False):
        command_ack(
            principal=principal_for(fleet.collector_x), wire_id=wires[0]["command_id"], payload=ACK, endpoint="v1"
        )
    assert tick(60)["ended"] == 1
    c.refresh_from_db()
    assert c.state == CurtailmentState.ENDED
    enables = commands(CommandType.ENABLE_HASHING)
    assert [e.miner_id for e in enables] == [leased.miner_id]
    assert enables[0].priority_class == PriorityClass.COMPLIANCE and enables[0].batch_id == c.enable_batch_id
    assert enables[0].state == CommandState.QUEUED
    other = first if second.pk == leased.pk else second
    other.refresh_from_db()
    assert other.state == CommandState.CANCELED
    assert tick(61) == {"started": 0, "ended": 0, "expired": 0, "enables_retried": 0}
    assert len(commands(CommandType.ENABLE_HASHING)) == 1


def test_cancel_mid_way_cancels_the_pending_disables_and_re_enables_the_dispatched_one(fleet, noc_x, ops_manager_x):
    c = approved(create(noc_x), ops_manager_x)
    tick(0)
    wires = lease(fleet, 1, limit=1)
    with time_machine.travel(at(20), tick=False):
        curtailment_cancel(actor=Actor.user(noc_x), user=noc_x, curtailment=c, reason="grid operator called it off")
    c.refresh_from_db()
    assert c.state == CurtailmentState.CANCELED and c.ended_at == at(20)
    assert {d.state for d in commands(CommandType.DISABLE_HASHING)} == {CommandState.CANCELED}
    enables = commands(CommandType.ENABLE_HASHING)
    assert [str(e.miner.commands.get(command_type="disable_hashing").pk) for e in enables] == [wires[0]["command_id"]]
    assert tick(60)["ended"] == 0  # a canceled curtailment does not end again


def test_a_miner_held_by_a_running_command_gets_its_enable_on_a_later_tick(fleet, noc_x, ops_manager_x):
    c = approved(create(noc_x, target_kw=3.0), ops_manager_x)  # one miner: a0
    tick(0)
    lease(fleet, 1)
    disable = commands(CommandType.DISABLE_HASHING)[0]
    Command.objects.filter(pk=disable.pk).update(state=CommandState.RUNNING)  # the edge says it is executing it
    tick(60)
    c.refresh_from_db()
    assert c.enable_pending == [disable.miner_id] and commands(CommandType.ENABLE_HASHING) == []
    Command.objects.filter(pk=disable.pk).update(state=CommandState.SUCCEEDED)
    assert tick(61)["enables_retried"] == 1
    c.refresh_from_db()
    assert c.enable_pending == [] and len(commands(CommandType.ENABLE_HASHING)) == 1


def test_the_beat_task_starts_a_due_curtailment_once_per_interval(fleet, noc_x, ops_manager_x, settings):
    from control.tasks import curtailment_tick_task

    assert settings.CELERY_BEAT_SCHEDULE["control.curtailment_tick"]["task"] == "control.curtailment_tick"
    c = approved(create(noc_x), ops_manager_x)
    with time_machine.travel(at(0.1), tick=False):
        assert curtailment_tick_task.apply().get()["started"] == 1
        assert curtailment_tick_task.apply().get() is None  # a second beat's send in the same interval: skipped
    c.refresh_from_db()
    assert c.state == CurtailmentState.ACTIVE and len(commands(CommandType.DISABLE_HASHING)) == 2


# --- kW shed ------------------------------------------------------------------------------------


def test_shed_kw_is_the_baseline_before_start_minus_the_current_draw(fleet, noc_x, ops_manager_x):
    a0, b0 = fleet.miners_a_x[0], fleet.miners_b_x[0]
    for minute in range(-15, 0):  # the 15 minutes before the start, from the 1-minute tier
        insert_1m(a0.site_id, a0.tenant_id, a0.pk, at(minute), samples=6, online=6, hashrate=NOMINAL_GHS)
        insert_1m(b0.site_id, b0.tenant_id, b0.pk, at(minute), samples=6, online=3, hashrate=NOMINAL_GHS)
    insert_1m(a0.site_id, a0.tenant_id, a0.pk, at(-20), samples=6, online=6, hashrate=0.0)  # before the window
    c = approved(create(noc_x), ops_manager_x)
    tick(0)
    c.refresh_from_db()
    assert c.baseline_kw == 3.5 + 1.75  # b0 was online half the time
    live(a0, 0.0, ts=at(10))  # disabled: online, no hashrate
    live(b0, NOMINAL_GHS * 0.2, ts=at(10))  # not quite off yet: 700 W
    shed = curtailment_shed(c, now=at(10.5))
    assert (shed.baseline_kw, shed.current_kw, shed.shed_kw, shed.measured_at) == (5.25, 0.7, 4.55, at(10))
    live(a0, 0.0, ts=at(59.5))
    live(b0, 0.0, ts=at(59.5))
    tick(60)
    c.refresh_from_db()
    assert (c.shed_kw, c.measured_at) == (5.25, at(60))
    assert curtailment_shed(c).shed_kw == 5.25


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"target_kw": 0}, "target_kw"),
        ({"target_kw": -3}, "target_kw"),
        ({"reason": "  "}, "reason"),
        ({"end": T0 - dt.timedelta(minutes=1)}, "end_at"),
    ],
)
def test_bad_input_is_curtailment_invalid_naming_the_field(fleet, noc_x, changes, field):
    with pytest.raises(DomainError) as exc:
        create(noc_x, **changes)
    assert (exc.value.error_code, exc.value.extra["field"]) == ("CURTAILMENT_INVALID", field)
    assert not Curtailment.objects.exists()


def test_a_start_more_than_a_minute_ago_is_refused(fleet, noc_x):
    with time_machine.travel(at(2), tick=False), pytest.raises(DomainError) as exc:
        curtailment_create(
            actor=Actor.user(noc_x), user=noc_x, site=fleet.site_x, start_at=T0, end_at=at(60), reason="x", target_kw=1
        )
    assert exc.value.extra["field"] == "start_at"


def test_overlapping_curtailments_of_one_site_are_refused(fleet, noc_x):
    create(noc_x)
    with pytest.raises(DomainError) as exc:
        create(noc_x, start=at(30))
    assert (exc.value.error_code, exc.value.extra["field"]) == ("CURTAILMENT_INVALID", "start_at")
    create(noc_x, start=at(60))  # back to back is no overlap


def test_a_plan_over_the_blast_radius_cap_is_refused_at_creation(fleet, noc_x, settings):
    settings.COMMAND_BLAST_RADIUS_PCT = 20  # 1 of the site's 5 miners
    with pytest.raises(DomainError) as exc:
        create(noc_x, target_kw=6.0)
    assert exc.value.extra["field"] == "target_kw"
    create(noc_x, target_kw=3.0)


def test_the_requester_cannot_approve_their_own_curtailment(fleet, noc_x):
    c = create(noc_x)
    with pytest.raises(DomainError) as exc:
        approved(c, noc_x)
    assert exc.value.error_code == "SELF_APPROVAL"


def test_a_zone_noc_may_curtail_their_zone_but_not_the_whole_site(fleet):
    zone_noc = grant(UserFactory(username="noc-x1"), Role.NOC, zone=fleet.zone_x1)
    with pytest.raises(DomainError) as exc:
        create(zone_noc, target_kw=3.0)
    assert exc.value.error_code == "FORBIDDEN"
    c = create(zone_noc, target_kw=3.0, zone=fleet.zone_x1)
    assert [r["miner"] for r in c.chosen] == [fleet.miners_a_x[0].pk]


# --- audit --------------------------------------------------------------------------------------


def test_create_approve_start_end_and_cancel_are_audited_in_the_site_chain(fleet, noc_x, ops_manager_x):
    c = approved(create(noc_x), ops_manager_x)
    tick(0)
    tick(60)
    other = create(noc_x, start=at(120))
    with time_machine.travel(at(100), tick=False):
        curtailment_cancel(actor=Actor.user(noc_x), user=noc_x, curtailment=other, reason="not needed")
    events = AuditEvent.objects.filter(entity_type="control.curtailment", chain_key="site:SITE-X")
    assert list(events.filter(entity_id=str(c.pk)).order_by("seq").values_list("action", flat=True)) == [
        "control.curtailment.created",
        "control.curtailment.approved",
        "control.curtailment.started",
        "control.curtailment.ended",
    ]
    assert list(events.filter(entity_id=str(other.pk)).order_by("seq").values_list("action", flat=True)) == [
        "control.curtailment.created",
        "control.curtailment.canceled",
    ]


# --- downtime -----------------------------------------------------------------------------------


def _uploads(world, start: int, end: int):
    for minute in range(start, end):
        IngestBatch.objects.create(
            site=world.site_x,
            collector=world.collector_x,
            token_prefix="t",
            endpoint="v1",
            body_format="list",
            received_at=at(minute + 0.5),
            body_sha256=f"{minute + 100:064d}",
            body_bytes=1,
            record_count=1,
            accepted=1,
            rejected=0,
            duplicates=0,
            sample_from=at(minute),
            sample_to=at(minute + 0.5),
        )


def test_the_downtime_of_curtailed_miners_is_attributed_curtailment(fleet, noc_x, ops_manager_x):
    from hosting.models import DowntimeInterval
    from hosting.services.downtime import downtime_pass
    from tenants.models import MinerOwnership

    MinerOwnership.objects.update(valid_from=T0 - dt.timedelta(days=1))
    a0 = fleet.miners_a_x[0]
    approved(create(noc_x, target_kw=3.0), ops_manager_x)  # a0 only
    tick(0)
    wires = lease(fleet, 0.2)
    with time_machine.travel(at(0.5), tick=False):
        command_ack(
            principal=principal_for(fleet.collector_x), wire_id=wires[0]["command_id"], payload=ACK, endpoint="v1"
        )
    tick(60)
    # the edge ran the enable at minute 61 (its ACK and verification are the edge tests' business)
    Command.objects.filter(command_type="enable_hashing").update(state=CommandState.SUCCEEDED, finished_at=at(61))
    _uploads(fleet, -10, 70)
    for miner in [*fleet.miners_a_x, *fleet.miners_b_x]:
        for minute in range(-10, 70):
            off = miner == a0 and 1 <= minute < 62
            insert_1m(miner.site_id, miner.tenant_id, miner.pk, at(minute), hashrate=0.0 if off else NOMINAL_GHS)
    with time_machine.travel(at(80), tick=False):
        downtime_pass(site=fleet.site_x, start=at(-10), end=at(70))
    rows = [(i.miner_id, i.cause, i.started_at, i.ended_at) for i in DowntimeInterval.objects.all()]
    assert rows == [(a0.pk, "curtailment", at(1), at(62))]


# --- two ticks at once --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_ticks_start_and_end_each_curtailment_once(fleet, noc_x, ops_manager_x):
    for round_ in range(4):
        start = at(90 * round_)
        for miner in [*fleet.miners_a_x, fleet.miners_b_x[0]]:
            live(miner, NOMINAL_GHS, ts=start - dt.timedelta(seconds=30))
        c = approved(create(noc_x, start=start, target_kw=6.0), ops_manager_x)
        for moment in (start, start + dt.timedelta(hours=1)):
            barrier, errors = threading.Barrier(2), []

            def body(moment=moment, barrier=barrier, errors=errors):
                try:
                    barrier.wait()
                    curtailments_tick(now=moment)
                except Exception as exc:  # reported by the assertion below
                    errors.append(exc)
                finally:
                    connection.close()

            with time_machine.travel(moment, tick=False):
                threads = [threading.Thread(target=body) for _ in range(2)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(timeout=60)
            assert errors == []
        c.refresh_from_db()
        assert c.state == CurtailmentState.ENDED
        mine = Command.objects.filter(evidence__curtailment=c.pk)
        assert mine.filter(command_type="disable_hashing").count() == 2
        assert mine.filter(command_type="disable_hashing", state=CommandState.CANCELED).count() == 2
        started = AuditEvent.objects.filter(entity_id=str(c.pk), action="control.curtailment.started")
        ended = AuditEvent.objects.filter(entity_id=str(c.pk), action="control.curtailment.ended")
        assert (started.count(), ended.count()) == (1, 1)
