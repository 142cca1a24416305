"""The scenario of the demo month: which miner is unhealthy when, and why.

Everything is decided here, deterministically (a fixed random seed), as *episodes*: stretches of
a miner's samples that say offline or zero hashrate. The events module adds the episodes its
commands and maintenance windows cause, so samples and explanations agree; the downtime pass then
finds the causes by itself, exactly as it does for live data.
"""

import datetime as dt
import random
from dataclasses import dataclass, field

STEP = dt.timedelta(minutes=5)  # one sample per miner every 5 minutes: inside TELEMETRY_STALE_SEC
SEED = 13


@dataclass(frozen=True)
class Episode:
    miner_pk: int
    start: dt.datetime
    stop: dt.datetime
    kind: str  # offline | zero


@dataclass(frozen=True)
class Dark:
    """A collector dark period: no uploads, no samples."""

    site_pk: int
    start: dt.datetime
    stop: dt.datetime


@dataclass
class Plan:
    start: dt.datetime  # 00:00 UTC, `days` before the end's day
    end: dt.datetime  # the last whole 5 minutes
    episodes: list[Episode] = field(default_factory=list)
    dark: list[Dark] = field(default_factory=list)

    def at(self, day: float, hour: float = 0.0) -> dt.datetime:
        """The time `day` days (a fraction of the period when < 1) and `hour` hours after the start."""
        days = (self.end - self.start).days
        offset = day * days if day < 1 else day
        return align(self.start + dt.timedelta(days=int(offset), hours=hour))

    def add(self, miner_pk: int, start: dt.datetime, stop: dt.datetime, kind: str) -> None:
        self.episodes.append(Episode(miner_pk, align(start), align(stop), kind))


def align(value: dt.datetime) -> dt.datetime:
    """Down to the 5-minute sample grid."""
    return value.replace(minute=value.minute - value.minute % 5, second=0, microsecond=0)


def plan_create(*, now: dt.datetime, days: int, first_sample: dt.datetime | None = None) -> Plan:
    """`first_sample`: the oldest sample already stored (the simulator's): the history stops before it."""
    end = align(min(now, first_sample - STEP) if first_sample else now)
    start = end.replace(hour=0, minute=0) - dt.timedelta(days=days)
    return Plan(start=start, end=end)


def random_outages(plan: Plan, miner_pks: list[int]) -> None:
    """The background of a real fleet: a few miners drop out for minutes to hours, a few hash nothing
    for a while (a stuck pool, a dead hashboard)."""
    rng = random.Random(SEED)
    span = (plan.end - plan.start).total_seconds() / 60 - 24 * 60
    for pk in miner_pks:
        for _ in range(rng.choice([0, 0, 0, 0, 0, 0, 0, 1, 1, 2])):
            start = plan.start + dt.timedelta(minutes=rng.uniform(0, span))
            plan.add(pk, start, start + dt.timedelta(minutes=rng.choice([10, 15, 25, 40, 90, 180])), "offline")
        if rng.random() < 0.04:
            start = plan.start + dt.timedelta(minutes=rng.uniform(0, span))
            plan.add(pk, start, start + dt.timedelta(minutes=rng.choice([30, 60, 240, 360])), "zero")
