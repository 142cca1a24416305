"""Miner state is derived from staleness and collector coverage (SPEC §5); figures come only
from the miners the reader may see."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from core.errors import Forbidden, InvalidParameter
from telemetry import selectors, selectors_history
from telemetry.tests.live_rows import live, raw, receipt
from telemetry.tests.tier_rows import insert_1m
from tenants import scoping
from tests.factories import CollectorFactory, MinerFactory, ZoneFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def states(user, site) -> dict[str, str]:
    return {r["miner_id"]: r["state"] for r in selectors.live_rows(selectors.live_for(user, site))}


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_fresh_online_sample_is_online(clock, world, owner):
    miner = world.miners_a_x[0]
    live(miner, age_sec=30)
    receipt(world.collector_x, age_sec=30)
    assert states(owner, world.site_x)[miner.miner_id] == "online"


def test_fresh_sample_saying_offline_is_offline(clock, world, owner):
    miner = world.miners_a_x[0]
    live(miner, age_sec=30, online=False)
    receipt(world.collector_x, age_sec=30)
    assert states(owner, world.site_x)[miner.miner_id] == "offline"


def test_stale_sample_while_the_collector_uploads_is_offline(clock, world, owner):
    stale, fresh = world.miners_a_x[0], world.miners_a_x[1]
    live(stale, age_sec=301)
    live(fresh, age_sec=5)
    receipt(world.collector_x, age_sec=5)
    got = states(owner, world.site_x)
    assert (got[stale.miner_id], got[fresh.miner_id]) == ("offline", "online")


def test_a_dark_collector_makes_stale_miners_unknown_not_offline(clock, world, owner):
    live(world.miners_a_x[0], age_sec=400)
    receipt(world.collector_x, age_sec=400)
    got = states(owner, world.site_x)
    assert set(got.values()) == {"unknown"}
    assert len(got) == 5  # miners that never reported are listed too


def test_a_miner_that_never_reported_is_offline_while_the_site_is_measured(clock, world, owner):
    receipt(world.collector_x, age_sec=1)
    assert set(states(owner, world.site_x).values()) == {"offline"}


def test_the_state_follows_the_clock(clock, world, owner):
    miner = world.miners_a_x[0]
    live(miner, age_sec=0)
    receipt(world.collector_x, age_sec=0)
    assert states(owner, world.site_x)[miner.miner_id] == "online"
    clock.shift(dt.timedelta(seconds=299))
    assert states(owner, world.site_x)[miner.miner_id] == "online"
    clock.shift(dt.timedelta(seconds=2))
    assert states(owner, world.site_x)[miner.miner_id] == "unknown"  # and the collector went quiet too
    receipt(world.collector_x, age_sec=0)
    assert states(owner, world.site_x)[miner.miner_id] == "offline"


def test_stale_sec_is_a_setting(clock, world, owner, settings):
    settings.TELEMETRY_STALE_SEC = 60
    live(world.miners_a_x[0], age_sec=90)
    receipt(world.collector_x, age_sec=5)
    assert states(owner, world.site_x)[world.miners_a_x[0].miner_id] == "offline"


def test_a_zone_collector_measures_its_zone_and_zoneless_miners_only(clock, world, owner):
    # the site-wide collector_x is silent: only zone X1's collector uploads
    zone_x2 = ZoneFactory(site=world.site_x, code="X2")
    in_x2 = MinerFactory(site=world.site_x, zone=zone_x2, tenant=world.tenant_a)
    receipt(CollectorFactory(site=world.site_x, zone=world.zone_x1, name="edge-x1"), age_sec=5)
    got = states(owner, world.site_x)
    assert got[world.miners_a_x[0].miner_id] == "offline"  # zone X1: measured
    assert got[world.miners_b_x[0].miner_id] == "offline"  # no zone: any collector of the site measures it
    assert got[in_x2.miner_id] == "unknown"  # zone X2's collector is dark


def test_another_sites_uploads_do_not_measure_this_site(clock, world, owner):
    receipt(world.collector_y, age_sec=5)
    assert set(states(owner, world.site_x).values()) == {"unknown"}


def test_site_summary_counts_only_the_customers_own_miners(clock, world, customer_a, owner):
    receipt(world.collector_x, age_sec=5)
    for m in world.miners_a_x[:2]:
        live(m, hashrate=100.0, temp=70.0)
    live(world.miners_a_x[2], age_sec=600, temp=99.0)  # stale: neither hashrate nor temperature count
    for m in world.miners_b_x:
        live(m, hashrate=1000.0, temp=95.0)
    mine = selectors.site_summary(customer_a, world.site_x)
    assert {k: mine[k] for k in ("miners", "online", "offline", "unknown", "hashrate_5s_ghs", "temperature_max")} == {
        "miners": 3,
        "online": 2,
        "offline": 1,
        "unknown": 0,
        "hashrate_5s_ghs": 200.0,
        "temperature_max": 70.0,
    }
    everyone = selectors.site_summary(owner, world.site_x)
    assert (everyone["miners"], everyone["online"], everyone["hashrate_5s_ghs"], everyone["temperature_max"]) == (
        5,
        4,
        2200.0,
        95.0,
    )


def test_fleet_summary_has_one_entry_per_visible_site(clock, world, customer_b, noc_x):
    receipt(world.collector_x, age_sec=5)
    live(world.miners_b_x[0])
    by_site = {s["site_id"]: s for s in selectors.fleet_summary(customer_b)}
    assert set(by_site) == {"SITE-X", "SITE-Y"}
    assert (by_site["SITE-X"]["miners"], by_site["SITE-X"]["online"], by_site["SITE-Y"]["unknown"]) == (2, 1, 2)
    assert [s["site_id"] for s in selectors.fleet_summary(noc_x)] == ["SITE-X"]


def test_a_customer_does_not_see_the_live_sample_of_the_previous_owner(clock, world, customer_a):
    miner = world.miners_a_x[0]
    live(miner, tenant=world.tenant_b)  # sampled while tenant B still owned it
    receipt(world.collector_x, age_sec=5)
    row = selectors.miner_state(customer_a, miner)
    assert (row["state"], row["ts"], row["hashrate_5s_ghs"]) == ("offline", None, None)


def test_lookups_outside_scope_are_forbidden_whether_they_exist_or_not(world, customer_a, noc_x):
    for user, code in ((customer_a, "SITE-Y"), (customer_a, "NO-SUCH-SITE"), (noc_x, "SITE-Y")):
        with pytest.raises(Forbidden):
            scoping.site_get(user, code)
    with pytest.raises(Forbidden):
        selectors.miner_get(customer_a, f"SITE-X/{world.miners_b_x[0].miner_id}")
    with pytest.raises(Forbidden):
        scoping.tenant_get(customer_a, world.tenant_b.slug)
    assert selectors.miner_get(customer_a, world.miners_a_x[0].miner_id) == world.miners_a_x[0]


def test_a_bare_miner_id_at_two_of_the_users_sites_is_ambiguous(world, owner):
    MinerFactory(site=world.site_y, miner_id=world.miners_a_x[0].miner_id, tenant=world.tenant_b)
    with pytest.raises(InvalidParameter):
        selectors.miner_get(owner, world.miners_a_x[0].miner_id)
    assert selectors.miner_get(owner, world.miners_a_x[0].miner_id, site_code="SITE-Y").site == world.site_y


@pytest.mark.parametrize(
    ("tier", "per_site", "hours", "ok"),
    [
        ("raw", False, 24, True),
        ("raw", False, 25, False),
        ("raw", True, 1, False),
        ("1m", True, 6, True),
        ("1m", True, 7, False),
        ("1m", False, 24 * 7, True),
        ("15m", True, 24 * 8, False),
        ("daily", True, 24 * 366, True),
        ("daily", True, 24 * 367, False),
    ],
)
def test_history_ranges_are_bounded_per_tier(tier, per_site, hours, ok):
    end = NOW

    def call():
        return selectors_history.history_range(tier, per_site=per_site, start=end - dt.timedelta(hours=hours), end=end)

    if ok:
        assert call() == (end - dt.timedelta(hours=hours), end)
    else:
        with pytest.raises(InvalidParameter):
            call()


def test_history_range_defaults_to_a_window_before_now(clock):
    assert selectors_history.history_range("1m", per_site=False, start=None, end=None) == (
        NOW - dt.timedelta(hours=6),
        NOW,
    )
    with pytest.raises(InvalidParameter):
        selectors_history.history_range("1m", per_site=False, start=NOW, end=NOW)


def test_miner_history_shows_a_customer_only_the_samples_of_their_ownership(world, customer_a, owner):
    miner = world.miners_a_x[0]
    t0 = NOW - dt.timedelta(hours=2)
    insert_1m(miner.site_id, world.tenant_b.pk, miner.pk, t0, hashrate=50.0)  # before A bought it
    insert_1m(miner.site_id, world.tenant_a.pk, miner.pk, t0 + dt.timedelta(minutes=1), hashrate=100.0)
    points = selectors_history.history(customer_a, tier="1m", start=t0, end=NOW, miner=miner)
    assert [(p["bucket"], p["hashrate_5s_avg"]) for p in points] == [(t0 + dt.timedelta(minutes=1), 100.0)]
    assert len(selectors_history.history(owner, tier="1m", start=t0, end=NOW, miner=miner)) == 2


def test_site_history_sums_the_readers_miners_per_bucket(world, customer_a, noc_x):
    t0 = NOW - dt.timedelta(hours=1)
    for m in world.miners_a_x:
        insert_1m(m.site_id, m.tenant_id, m.pk, t0, hashrate=100.0, temp=70.0)
    insert_1m(world.site_x.pk, world.tenant_b.pk, world.miners_b_x[0].pk, t0, hashrate=1000.0, temp=90.0)
    (mine,) = selectors_history.history(customer_a, tier="1m", start=t0, end=NOW, site=world.site_x)
    assert (mine["miners"], mine["hashrate_5s_ghs"], mine["temperature_max"]) == (3, 300.0, 72.0)
    (everyone,) = selectors_history.history(noc_x, tier="1m", start=t0, end=NOW, site=world.site_x)
    assert (everyone["miners"], everyone["hashrate_5s_ghs"], everyone["temperature_max"]) == (4, 1300.0, 92.0)


def test_raw_history_is_the_miners_samples_in_order(world, noc_x):
    miner = world.miners_a_x[0]
    t0 = timezone.now() - dt.timedelta(minutes=10)
    for i in (2, 0, 1):
        raw(miner, t0 + dt.timedelta(seconds=30 * i), hashrate=100.0 + i)
    raw(world.miners_a_x[1], t0, hashrate=1.0)
    points = selectors_history.history(noc_x, tier="raw", start=t0, end=t0 + dt.timedelta(minutes=5), miner=miner)
    assert [p["hashrate_5s_ghs"] for p in points] == [100.0, 101.0, 102.0]
