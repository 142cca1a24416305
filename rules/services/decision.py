"""The decision of one pass for one miner, shared by the live pass (rules.services.evaluation) and
the backtest (rules.services.backtest): pure Python over what the pass observed and the miner's
RuleState (saved by the live pass, in memory in a backtest), so both decide alike by construction.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from rules.models import HitKind, Mode, Op, Rule, RuleState


@dataclass(frozen=True, slots=True)
class Observation:
    """What one pass sees of one miner: its newest sample and the samples since the last one counted."""

    miner_pk: int
    zone_id: int | None
    live_ts: dt.datetime  # the newest sample's time
    value: float | None  # the metric on the newest sample (None: no value)
    breach: bool  # the newest sample breaches
    n_new: int  # samples newer than the state's last_sample_ts
    trailing: int  # how many of those, at the end, breach without a break
    streak_from: dt.datetime | None  # when that trailing streak began


class Maintenance(Protocol):
    def covers(self, miner_pk: int, zone_id: int | None) -> bool: ...


class MaintenanceAt:
    """What is under maintenance at `now`, from hosting's occurrences (hosting.selectors.maintenance):
    the whole site, zones, miners."""

    def __init__(self, occurrences, now: dt.datetime):
        self.site = False
        self.zones: set[int] = set()
        self.miners: set[int] = set()
        for o in occurrences:
            if not o.start <= now < o.end:
                continue
            if o.window.miner_id:
                self.miners.add(o.window.miner_id)
            elif o.window.zone_id:
                self.zones.add(o.window.zone_id)
            else:
                self.site = True

    def covers(self, miner_pk: int, zone_id: int | None) -> bool:
        return self.site or miner_pk in self.miners or (zone_id is not None and zone_id in self.zones)


def holds(value: float | None, op: str, threshold: float) -> bool:
    if value is None:
        return False
    if op == Op.GT:
        return value > threshold
    if op == Op.GTE:
        return value >= threshold
    return value < threshold if op == Op.LT else value <= threshold


def streak(obs: Observation, state: RuleState) -> None:
    """Advance the consecutive-breach count from the samples since the last one counted."""
    n_new, trailing, streak_from = obs.n_new, obs.trailing, obs.streak_from
    if not n_new and (state.last_sample_ts is None or obs.live_ts > state.last_sample_ts):
        n_new, trailing, streak_from = 1, 1 if obs.breach else 0, obs.live_ts  # a live row without its raw sample
    if n_new:
        if trailing == n_new and state.count:
            state.count += n_new
        else:
            state.count, state.first_breach_at = trailing, streak_from if trailing else None
        state.last_sample_ts = max(obs.live_ts, state.last_sample_ts or obs.live_ts)


def decide(rule: Rule, obs: Observation, state: RuleState, now: dt.datetime, maintenance: Maintenance) -> str | None:
    """The hit this pass makes for one miner (a HitKind), or None; updates `state` in place."""
    streak(obs, state)
    if state.day != now.date():
        state.day, state.triggers_today = now.date(), 0
    if state.mode == Mode.TRIGGERED:
        clear = rule.threshold if rule.clear_threshold is None else rule.clear_threshold
        if obs.value is not None and not holds(obs.value, rule.op, clear):
            state.mode, state.count, state.first_breach_at = Mode.NORMAL, 0, None
            return HitKind.RECOVERY
    sustained = (
        obs.breach
        and state.count >= rule.consecutive_samples
        and state.first_breach_at is not None
        and (obs.live_ts - state.first_breach_at).total_seconds() >= rule.min_duration_sec
    )
    if not sustained or (state.cooldown_until is not None and now < state.cooldown_until):
        return None
    state.cooldown_until = now + dt.timedelta(seconds=rule.cooldown_sec)
    if maintenance.covers(obs.miner_pk, obs.zone_id):
        return HitKind.SUPPRESSED
    if state.triggers_today >= rule.daily_cap:
        return HitKind.CAPPED
    state.mode, state.last_trigger_at = Mode.TRIGGERED, now
    state.triggers_today += 1
    return HitKind.TRIGGER


def lookback_sec(rule: Rule) -> int:
    """How far back a miner's first pass reads samples for its streak (the live pass's bound)."""
    return max(rule.min_duration_sec, 60 * rule.consecutive_samples, rule.stale_sec) + 3600
