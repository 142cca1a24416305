"""rule_alerts_firing{kind} on /metrics: the rule engine's open alerts by kind, computed at scrape
time (0 once they resolve, not the last value)."""

import pytest

from rules.services.definitions import rule_create
from rules.tests.test_evaluation import OPS, farm  # noqa: F401 — the farm fixture

pytestmark = pytest.mark.django_db


def firing(client) -> dict[str, float]:
    body = client.get("/metrics").content.decode()
    out = {}
    for line in body.splitlines():
        if line.startswith("rule_alerts_firing{"):
            labels, value = line.rsplit(" ", 1)
            out[labels.split('kind="')[1].split('"')[0]] = float(value)
    return out


def test_open_rule_alerts_are_counted_by_kind_and_drop_to_zero(client, farm, world):  # noqa: F811
    rule_create(
        actor=OPS,
        user=None,
        site=world.site_x,
        name="hot",
        metric="temp_max",
        op="gt",
        threshold=85,
        clear_threshold=75,
    )
    before = firing(client)
    assert before["rule_temp_max"] == 0 and before["miner_stale"] == 0 and "rule_not_hashing" in before
    farm.step(0, {world.miners_a_x[0]: 92, world.miners_a_x[1]: 95, world.miners_a_x[2]: 60})
    assert firing(client)["rule_temp_max"] == 2
    farm.step(1, {world.miners_a_x[0]: 70, world.miners_a_x[1]: 70})
    assert firing(client)["rule_temp_max"] == 0
