"""not_hashing also covers "no growth of accepted shares": a sample whose accepted_shares equals
the miner's previous raw sample's (within an hour) breaches even with a healthy hashrate. A counter
that went down (a restart) is not flat; flat again after it is; no predecessor or no counter never
breaches."""

import pytest

from rules.models import HitKind, RuleHit
from rules.services.definitions import rule_create
from rules.tests.test_evaluation import OPS, farm  # noqa: F401 — the farm fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def rule(world):
    return rule_create(
        actor=OPS,
        user=None,
        site=world.site_x,
        name="not hashing",
        metric="not_hashing",
        op="gte",
        threshold=1,
        cooldown_sec=0,
    )


def triggers(farm, miner, steps) -> list[int]:  # noqa: F811
    """The triggers of each pass, one pass per (minute, accepted_shares, extra fields)."""
    out = []
    for minute, shares, extra in steps:
        report = farm.step(minute, {miner: 60}, accepted_shares=shares, **extra)
        out.append(report.count(HitKind.TRIGGER))
    return out


def test_flat_shares_with_a_healthy_hashrate_breach(farm, world, rule):  # noqa: F811
    miner = world.miners_a_x[0]
    assert triggers(farm, miner, [(0, 1000, {}), (1, 1000, {}), (2, 1000, {})]) == [0, 1, 1]
    hit = RuleHit.objects.filter(kind=HitKind.TRIGGER).order_by("at").first()
    assert hit.value == 1 and [s["value"] for s in hit.evidence["samples"]] == [1, 0]


def test_growing_shares_do_not_breach(farm, world, rule):  # noqa: F811
    miner = world.miners_a_x[0]
    assert triggers(farm, miner, [(0, 1000, {}), (1, 1500, {}), (2, 2100, {})]) == [0, 0, 0]


def test_a_counter_reset_is_not_flat_but_flat_after_it_is(farm, world, rule):  # noqa: F811
    miner = world.miners_a_x[0]
    assert triggers(farm, miner, [(0, 5000, {}), (1, 10, {}), (2, 10, {})]) == [0, 0, 1]


def test_no_predecessor_within_an_hour_or_no_counter_never_breaches(farm, world, rule):  # noqa: F811
    miner = world.miners_a_x[0]
    assert triggers(farm, miner, [(0, 1000, {}), (90, 1000, {})]) == [0, 0]  # 90 minutes apart
    assert triggers(farm, world.miners_a_x[1], [(91, None, {}), (92, None, {})]) == [0, 0]


def test_zero_hashrate_still_breaches_whatever_the_shares(farm, world, rule):  # noqa: F811
    miner = world.miners_a_x[0]
    assert triggers(farm, miner, [(0, 1000, {"hashrate_5s_ghs": 0}), (1, 1200, {})]) == [1, 0]
