"""15-minute and daily rollups from the 1-minute tier, on real PostgreSQL (1m rows written with SQL)."""

import datetime as dt

import pytest
import time_machine
from django.db import connection

from audit.models import AuditEvent
from core.periodic import advisory_lock_key
from hashinsight.tests import procs
from telemetry.models import RollupWatermark
from telemetry.partitions import ensure_partition
from telemetry.rollups import telemetry_rollup_15m, telemetry_rollup_daily
from telemetry.tasks import telemetry_rollup_task
from telemetry.tests.tier_rows import at, fetch, insert_1m, one_minute, upsert_1m

pytestmark = pytest.mark.django_db

DAY = dt.date(2030, 6, 10)  # far from the real clock: partitions made by other tests cannot interfere
NEXT = DAY + dt.timedelta(days=1)


def m1(miner, bucket, **kw):
    return insert_1m(miner.site_id, miner.tenant_id, miner.pk, bucket, **kw)


def rows_15m(**where):
    return fetch("telemetry_15m", "bucket", **where)


def rows_daily(**where):
    return fetch("telemetry_daily", "day", **where)


def corrected_events():
    return list(AuditEvent.objects.filter(action="telemetry.rollup.corrected").order_by("chain_key", "seq"))


def minute(start: str, i: int) -> dt.datetime:
    return at(DAY, start) + dt.timedelta(minutes=i)


@pytest.fixture
def partitions(db):
    for day in (DAY, NEXT):
        ensure_partition("telemetry_1m", day)


def test_15m_and_daily_rows_sum_count_and_max_their_1m_rows(world, partitions):
    a0, a1 = world.miners_a_x[:2]
    written = [
        m1(a0, minute("01:00", i), samples=6, online=5, hashrate=100.0 + i, temp=60.0 + i, freq=500.0)
        for i in range(15)
    ]
    m1(a0, at(DAY, "01:15"), hashrate=90.0)
    m1(a1, at(DAY, "01:07"), samples=4, online=0)

    result = telemetry_rollup_15m(now=at(DAY, "01:32"))

    assert (result.closed_from, result.closed_through) == (at(DAY, "00:00"), at(DAY, "01:30"))
    (first, second) = rows_15m(miner_id=a0.pk)
    assert first["bucket"] == at(DAY, "01:00") and second["bucket"] == at(DAY, "01:15")
    assert first["samples"] == 90 and first["online_samples"] == 75
    assert (
        first["hashrate_5s_sum"] == sum(r["hashrate_5s_sum"] for r in written) == 5 * sum(100.0 + i for i in range(15))
    )
    assert first["hashrate_5s_count"] == 75 and first["hashrate_5s_max"] == 115.0
    assert first["temperature_max_max"] == 76.0 and first["temperature_max_sum"] == 5 * sum(60.0 + i for i in range(15))
    assert first["frequency_sum"] == 75 * 500.0 and first["frequency_count"] == 75
    assert (first["first_ts"], first["last_ts"]) == (at(DAY, "01:00", 5), at(DAY, "01:14", 55))
    assert (first["revision"], first["corrected"], first["tenant_id"], first["site_id"]) == (
        0,
        False,
        a0.tenant_id,
        a0.site_id,
    )
    assert second["samples"] == 6 and second["hashrate_5s_sum"] == 450.0
    (offline,) = rows_15m(miner_id=a1.pk)
    assert (
        offline["samples"],
        offline["online_samples"],
        offline["hashrate_5s_count"],
        offline["hashrate_5s_max"],
    ) == (4, 0, 0, 100.0 + 1)

    telemetry_rollup_daily(now=at(NEXT, "00:02"))
    (day_a0,) = rows_daily(miner_id=a0.pk)
    assert day_a0["day"] == DAY
    assert day_a0["samples"] == 96 and day_a0["hashrate_5s_sum"] == first["hashrate_5s_sum"] + 450.0
    assert day_a0["hashrate_5s_max"] == 115.0 and day_a0["last_ts"] == at(DAY, "01:15", 55)


def test_a_second_run_changes_nothing_and_bumps_no_revision(world, partitions):
    a0 = world.miners_a_x[0]
    for i in range(15):
        # The last minutes were written just before the run: the next run's overlap re-reads them.
        m1(a0, minute("01:00", i), hashrate=100.1 * (i + 1), updated_at=at(DAY, "01:31"))
    assert telemetry_rollup_15m(now=at(DAY, "01:32")).rows_written == 1
    assert telemetry_rollup_daily(now=at(NEXT, "00:02")).rows_written == 1
    before_15m, before_daily = rows_15m(), rows_daily()

    again = telemetry_rollup_15m(now=at(DAY, "01:33"))
    again_daily = telemetry_rollup_daily(now=at(NEXT, "00:03"))

    assert (again.rows_written, again.corrected, again_daily.rows_written) == (0, [], 0)
    assert rows_15m() == before_15m and rows_daily() == before_daily
    assert before_15m[0]["revision"] == 0 and corrected_events() == []


def test_a_late_1m_change_recomputes_the_closed_bucket_once_and_audits_once_per_tenant(world, partitions):
    a0, a1 = world.miners_a_x[:2]
    b0 = world.miners_b_x[0]
    for i in range(15):
        m1(a0, minute("01:00", i))
        m1(a1, minute("01:15", i))
    telemetry_rollup_15m(now=at(DAY, "01:32"))
    telemetry_rollup_daily(now=at(NEXT, "00:02"))

    late = at(NEXT, "00:10")
    upsert_1m(
        a0.site_id,
        a0.tenant_id,
        a0.pk,
        minute("01:00", 3),
        updated_at=late,
        **one_minute(minute("01:00", 3), samples=12, online=10),
    )
    m1(a1, at(DAY, "01:05"), updated_at=late)  # a bucket of a1 that was closed without data
    m1(b0, at(DAY, "01:20"), updated_at=late)  # tenant B's replay fills a closed gap
    with time_machine.travel(late + dt.timedelta(minutes=1), tick=False):
        result = telemetry_rollup_15m()
        daily = telemetry_rollup_daily()

    (a0_row,) = rows_15m(miner_id=a0.pk)
    assert (a0_row["samples"], a0_row["online_samples"], a0_row["revision"], a0_row["corrected"]) == (96, 80, 1, True)
    assert a0_row["hashrate_5s_sum"] == 80 * 100.0
    a1_rows = rows_15m(miner_id=a1.pk)
    assert [(r["bucket"], r["revision"], r["corrected"]) for r in a1_rows] == [
        (at(DAY, "01:00"), 1, True),
        (at(DAY, "01:15"), 0, False),
    ]
    (b0_row,) = rows_15m(miner_id=b0.pk)
    assert (b0_row["revision"], b0_row["corrected"], b0_row["tenant_id"]) == (1, True, b0.tenant_id)
    assert len(result.corrected) == 3 and len(daily.corrected) == 3
    (a0_day,) = rows_daily(miner_id=a0.pk)
    assert (a0_day["samples"], a0_day["revision"], a0_day["corrected"]) == (96, 1, True)

    events = corrected_events()
    # One event per run (15m, daily) per tenant chain; tenant A's lists both of its buckets.
    assert sorted((e.chain_key, e.payload["tier"]) for e in events) == sorted(
        [
            (f"tenant:{a0.tenant_id}", "15m"),
            (f"tenant:{a0.tenant_id}", "daily"),
            (f"tenant:{b0.tenant_id}", "15m"),
            (f"tenant:{b0.tenant_id}", "daily"),
        ]
    )
    a_15m = next(e for e in events if e.chain_key == f"tenant:{a0.tenant_id}" and e.payload["tier"] == "15m")
    assert a_15m.payload["buckets"] == [
        {"site": "SITE-X", "bucket": at(DAY, "01:00").isoformat(), "miners": 2, "max_revision": 1},
    ]
    assert a_15m.payload["rows"] == 2 and a_15m.site_code == "SITE-X"
    b_15m = next(e for e in events if e.chain_key == f"tenant:{b0.tenant_id}" and e.payload["tier"] == "15m")
    assert b_15m.payload["buckets"] == [
        {"site": "SITE-X", "bucket": at(DAY, "01:15").isoformat(), "miners": 1, "max_revision": 1}
    ]

    # Nothing new: no further bump, no further event. A second late change: revision 2.
    with time_machine.travel(late + dt.timedelta(minutes=2), tick=False):
        assert telemetry_rollup_15m().rows_written == 0
    assert len(corrected_events()) == 4
    upsert_1m(
        a0.site_id,
        a0.tenant_id,
        a0.pk,
        minute("01:00", 3),
        updated_at=late + dt.timedelta(minutes=5),
        **one_minute(minute("01:00", 3)),
    )
    with time_machine.travel(late + dt.timedelta(minutes=6), tick=False):
        telemetry_rollup_15m()
    (a0_row,) = rows_15m(miner_id=a0.pk)
    assert (a0_row["samples"], a0_row["revision"]) == (90, 2)
    assert len(corrected_events()) == 5


def test_a_change_within_the_grace_is_not_a_correction(world, partitions):
    a0 = world.miners_a_x[0]
    m1(a0, at(DAY, "01:14"), updated_at=at(DAY, "01:15", 30))
    telemetry_rollup_15m(now=at(DAY, "01:31"))  # closes 01:00–01:15 only
    m1(a0, at(DAY, "01:29"), updated_at=at(DAY, "01:31", 30))  # late, but inside the grace of 01:15–01:30
    result = telemetry_rollup_15m(now=at(DAY, "01:32"))

    assert [(r["bucket"], r["samples"], r["revision"]) for r in rows_15m()] == [
        (at(DAY, "01:00"), 6, 0),
        (at(DAY, "01:15"), 6, 0),
    ]
    assert result.corrected == [] and corrected_events() == []


def test_buckets_are_rolled_up_only_once_closed(world, partitions):
    a0 = world.miners_a_x[0]
    m1(a0, at(DAY, "01:16"))
    m1(a0, at(DAY, "23:59"))

    telemetry_rollup_15m(now=at(DAY, "01:31", 59))  # 01:15–01:30 ends at 01:30, closes at 01:32
    telemetry_rollup_daily(now=at(NEXT, "00:01", 59))
    assert rows_15m(bucket=at(DAY, "01:15")) == [] and rows_daily() == []

    telemetry_rollup_15m(now=at(DAY, "01:32"))
    telemetry_rollup_daily(now=at(NEXT, "00:02"))
    assert [r["bucket"] for r in rows_15m()] == [at(DAY, "01:15")]
    assert [(r["day"], r["samples"]) for r in rows_daily()] == [(DAY, 12)]
    assert RollupWatermark.objects.get(tier="15m").closed_through == at(DAY, "01:30")


def test_a_backlog_is_worked_through_six_hours_per_run(world, partitions):
    a0 = world.miners_a_x[0]
    for hhmm in ("00:05", "05:50", "06:10", "11:00"):
        m1(a0, at(DAY, hhmm))
    first = telemetry_rollup_15m(now=at(DAY, "12:00"))
    assert first.backlog and first.closed_through == at(DAY, "06:00") and len(rows_15m()) == 2
    second = telemetry_rollup_15m(now=at(DAY, "12:01"))
    assert not second.backlog and second.closed_through == at(DAY, "11:45") and len(rows_15m()) == 4


def test_samples_of_a_miner_whose_owner_changed_mid_bucket_stay_split_by_tenant(world, partitions):
    miner = world.miners_a_x[0]
    tenant_a, tenant_b = world.tenant_a.pk, world.tenant_b.pk
    for i in range(15):
        owner = tenant_a if i < 7 else tenant_b
        insert_1m(miner.site_id, owner, miner.pk, minute("01:00", i), samples=6, hashrate=100.0)

    telemetry_rollup_15m(now=at(DAY, "01:17"))
    telemetry_rollup_daily(now=at(NEXT, "00:02"))

    assert [(r["tenant_id"], r["samples"], r["hashrate_5s_sum"]) for r in rows_15m(miner_id=miner.pk)] == [
        (tenant_a, 42, 3500.0),
        (tenant_b, 48, 4000.0),
    ]
    assert [(r["tenant_id"], r["samples"]) for r in rows_daily(miner_id=miner.pk)] == [(tenant_a, 42), (tenant_b, 48)]


def test_every_site_is_rolled_up(world, partitions):
    x, y = world.miners_b_x[0], world.miners_b_y[0]
    m1(x, at(DAY, "01:00"))
    m1(y, at(DAY, "01:00"))
    telemetry_rollup_15m(now=at(DAY, "01:17"))
    assert sorted(r["site_id"] for r in rows_15m()) == sorted([x.site_id, y.site_id])


def test_a_rollup_of_5000_miners_matches_a_hand_written_group_by(world, partitions):
    site, tenant = world.site_x.pk, world.tenant_a.pk
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO telemetry_1m (site_id, tenant_id, miner_id, bucket, samples, online_samples, hashrate_5s_sum, "
            "hashrate_5s_count, hashrate_5s_max, temperature_max_max, temperature_max_sum, temperature_max_count, "
            "frequency_sum, frequency_count, first_ts, last_ts, updated_at) "
            "SELECT %s, %s, 1000000 + m, b, 6, 6, 600 + m * 0.1 + i, 6, 101 + i, 70 + i, 420.5, 6, 3000, 6, b, b + interval '55 s', b "
            "FROM generate_series(1, 5000) m, generate_series(0, 14) i, LATERAL (SELECT %s + i * interval '1 min' AS b) t",
            [site, tenant, at(DAY, "01:00")],
        )
    result = telemetry_rollup_15m(now=at(DAY, "01:17"))
    assert result.rows_written == 5000
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM (SELECT miner_id, sum(samples) s, sum(hashrate_5s_sum ORDER BY bucket) h, max(hashrate_5s_max) x "
            "FROM telemetry_1m WHERE site_id = %s GROUP BY miner_id) g JOIN telemetry_15m t USING (miner_id) "
            "WHERE t.samples = g.s AND t.hashrate_5s_sum = g.h AND t.hashrate_5s_max = g.x AND t.hashrate_5s_max = 115",
            [site],
        )
        assert cur.fetchone()[0] == 5000
    assert telemetry_rollup_15m(now=at(DAY, "01:18")).rows_written == 0


def test_the_beat_task_rolls_up_and_a_second_call_in_the_interval_is_skipped(world, partitions):
    a0 = world.miners_a_x[0]
    m1(a0, at(DAY, "01:00"))
    with time_machine.travel(at(DAY, "01:17"), tick=False):
        assert telemetry_rollup_task.apply().get() == {
            "15m": {"rows": 1, "corrected": 0, "backlog": False},
            "daily": {"rows": 0, "corrected": 0, "backlog": False},
        }
        m1(a0, at(DAY, "01:01"), updated_at=at(DAY, "01:17"))
        assert telemetry_rollup_task.apply().get() is None
    assert rows_15m()[0]["samples"] == 6  # the skipped call did not recompute


def test_the_beat_task_skips_while_another_run_holds_the_job(world, partitions):
    m1(world.miners_a_x[0], at(DAY, "01:00"))
    other = procs.direct_connect()  # another worker's session: workers connect to PostgreSQL itself
    try:
        with other.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", [advisory_lock_key("telemetry.rollup")])
        with time_machine.travel(at(DAY, "01:17"), tick=False):
            assert telemetry_rollup_task.apply().get() is None
        assert rows_15m() == []
    finally:
        other.close()
