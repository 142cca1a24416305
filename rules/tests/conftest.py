"""Fixtures the backtest's API and admin tests share."""

import pytest

from rules.tests.test_backtest import minute, upload


@pytest.fixture
def hot_hour(client, world, time_machine):
    """Ten hot minutes of one miner (and a cool one), then the clock an hour on."""
    hot, cool = world.miners_a_x[:2]
    for m in range(10):
        upload(client, world, time_machine, minute(m), {hot: 90, cool: 60})
    time_machine.move_to(minute(60), tick=False)
    return hot
