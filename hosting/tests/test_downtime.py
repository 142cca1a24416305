"""Downtime attribution with a frozen clock, for every cause (docs/DOWNTIME.md), and the pass's
incremental behaviour: extension across passes, idempotency, a spool replayed after a dark period,
and a miner whose owner changed mid-period."""

import datetime as dt

import pytest
import time_machine

from audit.services import Actor
from control.models import CommandAttempt, CommandState, CommandType, PriorityClass
from control.tests.factories import ControlCommandFactory
from hosting.models import DowntimeInterval, MaintenanceWindow
from hosting.selectors.downtime import downtime_intervals_list, downtime_summary
from hosting.services.downtime import downtime_pass
from telemetry.models import IngestBatch
from telemetry.tests.tier_rows import insert_1m
from tenants.models import MinerOwnership
from tenants.services import miner_assign_owner
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
NOMINAL_GHS = 200_000.0  # MinerFactory: 200 TH/s


def m(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture
def farm(world):
    """Site X: owned since the day before, the collector uploading every minute (unless told)."""
    MinerOwnership.objects.update(valid_from=T0 - dt.timedelta(days=1))
    return world


def uploads(world, start: float, end: float):
    for minute in range(int(start), int(end)):
        IngestBatch.objects.create(
            site=world.site_x,
            collector=world.collector_x,
            token_prefix="t",
            endpoint="v1",
            body_format="list",
            received_at=m(minute + 0.5),
            body_sha256=f"{minute:064d}",
            body_bytes=1,
            record_count=1,
            accepted=1,
            rejected=0,
            duplicates=0,
            sample_from=m(minute),
            sample_to=m(minute + 0.5),
        )


def samples(miner, start: float, end: float, *, online=True, hashrate=NOMINAL_GHS, tenant=None):
    for minute in range(int(start), int(end)):
        insert_1m(
            miner.site_id,
            (tenant or miner.tenant).pk,
            miner.pk,
            m(minute),
            online=5 if online else 0,
            hashrate=hashrate,
        )


def healthy(world, start: float, end: float, *, skip=()):
    uploads(world, start, end)
    for miner in [*world.miners_a_x, *world.miners_b_x]:
        if miner not in skip:
            samples(miner, start, end)


def leased(command, world, at):
    CommandAttempt.objects.create(
        command=command,
        attempt=1,
        wire_id=str(command.pk),
        lease_epoch=1,
        collector=world.collector_x,
        leased_at=at,
        lease_until=at + dt.timedelta(minutes=1),
    )


def run(world, start: float, end: float):
    with time_machine.travel(m(end) + dt.timedelta(minutes=5), tick=False):
        return downtime_pass(site=world.site_x, start=m(start), end=m(end))


def intervals(miner=None):
    qs = DowntimeInterval.objects.order_by("miner_id", "started_at")
    if miner is not None:
        qs = qs.filter(miner=miner)
    return [(i.cause, i.started_at, i.ended_at) for i in qs]


def test_a_healthy_hour_has_no_downtime(farm):
    healthy(farm, 0, 60)
    run(farm, 0, 60)
    assert intervals() == []


def test_an_offline_miner_is_down_offline_for_exactly_its_minutes(farm):
    miner = farm.miners_a_x[0]
    healthy(farm, 0, 60, skip=[miner])
    samples(miner, 0, 10)
    samples(miner, 10, 20, online=False)
    samples(miner, 20, 60)
    run(farm, 0, 60)
    assert intervals() == [("offline", m(10), m(20))]


def test_a_miner_that_stops_reporting_is_offline_once_stale(farm, settings):
    miner = farm.miners_a_x[0]
    healthy(farm, 0, 60, skip=[miner])
    samples(miner, 0, 10)
    samples(miner, 30, 60)
    run(farm, 0, 60)
    # last sample in minute 9; stale (300 s) after it, from minute 14, until it reports again
    assert intervals() == [("offline", m(14), m(30))]


def test_online_but_not_hashing_is_zero_hashrate(farm):
    miner = farm.miners_a_x[1]
    healthy(farm, 0, 60, skip=[miner])
    samples(miner, 0, 5)
    samples(miner, 5, 25, hashrate=0.01 * NOMINAL_GHS)  # 1 % of nominal: below DOWNTIME_ZERO_HASHRATE_PCT
    samples(miner, 25, 60)
    run(farm, 0, 60)
    assert intervals() == [("zero_hashrate", m(5), m(25))]


def test_a_collector_dark_for_20_minutes_is_unmeasured_not_down(farm):
    uploads(farm, 0, 20)
    uploads(farm, 40, 60)
    for miner in [*farm.miners_a_x, *farm.miners_b_x]:
        samples(miner, 0, 20)
        samples(miner, 40, 60)
    run(farm, 0, 60)
    got = set(intervals())
    # the last upload (minute 19:30) still covers the stale window; dark from minute 24 to 40
    assert got == {("unmeasured", m(24), m(40))}
    assert DowntimeInterval.objects.filter(cause="unmeasured").count() == 5  # every miner of the site
    summary = downtime_summary(UserFactory(is_superuser=True), start=m(0), end=m(60), site=farm.site_x, now=m(65))
    assert summary["unmeasured_minutes"] == 5 * 16
    assert summary["unplanned_minutes"] == 0
    assert summary["availability_pct"] == 100.0  # measured time only


def test_planned_maintenance_explains_the_downtime_in_its_scope(farm):
    miner, other = farm.miners_a_x[0], farm.miners_b_x[0]
    healthy(farm, 0, 60, skip=[miner, other])
    for target in (miner, other):
        samples(target, 0, 30)
        samples(target, 30, 45, online=False)
        samples(target, 45, 60)
    window = MaintenanceWindow.objects.create(
        site=farm.site_x, miner=miner, owner=UserFactory(), reason="PSU swap", starts_at=m(29), ends_at=m(50)
    )
    run(farm, 0, 60)
    assert intervals(miner) == [("maintenance", m(30), m(45))]
    assert DowntimeInterval.objects.get(miner=miner).maintenance == window
    assert intervals(other) == [("offline", m(30), m(45))]  # not in the window's scope


def test_an_operator_reboot_is_attributed_to_its_command(farm):
    miner = farm.miners_a_x[0]
    healthy(farm, 0, 60, skip=[miner])
    samples(miner, 0, 5)
    samples(miner, 5, 9, online=False)
    samples(miner, 9, 60)
    command = ControlCommandFactory(
        miner=miner, command_type=CommandType.REBOOT, state=CommandState.SUCCEEDED, finished_at=m(9.5)
    )
    leased(command, farm, m(4.5))
    run(farm, 0, 60)
    (interval,) = DowntimeInterval.objects.all()
    assert (interval.cause, interval.started_at, interval.ended_at, interval.command) == (
        "command",
        m(5),
        m(9),
        command,
    )


def test_a_compliance_disable_is_curtailment_until_hashing_is_enabled_again(farm):
    miner = farm.miners_b_x[0]
    healthy(farm, 0, 60, skip=[miner])
    samples(miner, 0, 10)
    samples(miner, 10, 40, hashrate=0.0)
    samples(miner, 40, 60)
    disable = ControlCommandFactory(
        miner=miner,
        command_type=CommandType.DISABLE_HASHING,
        priority_class=PriorityClass.COMPLIANCE,
        state=CommandState.SUCCEEDED,
        finished_at=m(11),
    )
    leased(disable, farm, m(9.8))
    run(farm, 0, 60)
    assert intervals() == [("curtailment", m(10), m(40))]
    assert DowntimeInterval.objects.get().command == disable


def test_a_miner_moved_mid_period_splits_by_owner_and_never_moves_its_past(farm):
    miner = farm.miners_a_x[2]
    healthy(farm, 0, 60, skip=[miner])
    samples(miner, 0, 20)
    samples(miner, 20, 30, online=False)
    with time_machine.travel(m(30), tick=False):
        miner_assign_owner(actor=Actor.system("test"), miners=[miner], tenant=farm.tenant_b, at=m(30))
    samples(miner, 30, 40, online=False, tenant=farm.tenant_b)
    samples(miner, 40, 60, tenant=farm.tenant_b)
    run(farm, 0, 60)
    rows = [(i.tenant_id, i.started_at, i.ended_at) for i in DowntimeInterval.objects.order_by("started_at")]
    assert rows == [(farm.tenant_a.pk, m(20), m(30)), (farm.tenant_b.pk, m(30), m(40))]
    # moved on again later: the intervals keep their owners
    with time_machine.travel(m(70), tick=False):
        miner_assign_owner(actor=Actor.system("test"), miners=[miner], tenant=farm.tenant_a, at=m(70))
    run(farm, 0, 60)
    assert rows == [(i.tenant_id, i.started_at, i.ended_at) for i in DowntimeInterval.objects.order_by("started_at")]


def test_consecutive_passes_extend_an_open_interval_and_a_rerun_changes_nothing(farm):
    miner = farm.miners_a_x[0]
    healthy(farm, 0, 60, skip=[miner])
    samples(miner, 0, 20)
    samples(miner, 20, 40, online=False)
    samples(miner, 40, 60)
    with time_machine.travel(m(30) + dt.timedelta(seconds=130), tick=False):
        first = downtime_pass(site=farm.site_x, start=m(0), end=m(30))
    assert intervals() == [("offline", m(20), None)]  # still going on at the end of the newest window
    with time_machine.travel(m(60) + dt.timedelta(seconds=130), tick=False):
        downtime_pass(site=farm.site_x)  # from the watermark on
    assert intervals() == [("offline", m(20), m(40))]
    run(farm, 0, 60)
    run(farm, 0, 60)
    assert intervals() == [("offline", m(20), m(40))]
    assert first.runs == 1


def test_a_spool_replayed_after_a_dark_period_turns_unmeasured_into_measured(farm):
    uploads(farm, 0, 20)
    for miner in [*farm.miners_a_x, *farm.miners_b_x]:
        samples(miner, 0, 20)
    with time_machine.travel(m(40) + dt.timedelta(seconds=130), tick=False):
        downtime_pass(site=farm.site_x, start=m(0), end=m(40))
    assert {i[0] for i in intervals()} == {"unmeasured"}
    # after that pass the collector comes back and replays its spool: the dark minutes' samples
    uploads(farm, 42, 45)
    IngestBatch.objects.filter(received_at=m(42.5)).update(sample_from=m(20))
    for miner in [*farm.miners_a_x, *farm.miners_b_x]:
        samples(miner, 20, 45)
    with time_machine.travel(m(45) + dt.timedelta(seconds=130), tick=False):
        downtime_pass(site=farm.site_x)
    assert intervals() == []


def test_customers_read_only_their_own_intervals(farm, customer_a, customer_b):
    healthy(farm, 0, 60, skip=farm.miners_a_x[:1] + farm.miners_b_x[:1])
    for miner in (farm.miners_a_x[0], farm.miners_b_x[0]):
        samples(miner, 0, 60, online=False)
    run(farm, 0, 60)
    mine = downtime_intervals_list(customer_a, start=m(0), end=m(60), site=farm.site_x)
    assert {i.miner_id for i in mine} == {farm.miners_a_x[0].pk}
    summary = downtime_summary(customer_b, start=m(0), end=m(60), site=farm.site_x, now=m(65))
    assert {row.miner_pk for row in summary["per_miner"]} == {mb.pk for mb in farm.miners_b_x}
    assert summary["downtime_minutes"]["offline"] == 60
    assert summary["period_minutes"] == 2 * 60
    assert summary["availability_pct"] == 50.0
