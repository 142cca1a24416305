"""Is an ACKed command's effect visible in telemetry? (SPEC §6.1 last column, §6.2)

The collector's ACKs cannot be trusted alone: a lost ACK is never re-sent, a re-delivery is
answered `skipped`, and stock firmware ACKs `restart` as failed although the miner restarts.
So an `acked` command is decided here, from the samples the miner reported after it was leased:

- effect seen within the type's window → succeeded, outcome `verified` (`verified_despite_ack`
  when the edge had ACKed failure);
- window over, the miner kept reporting and the effect never showed → failed
  (`VERIFICATION_FAILED`; a failed restart ACK that no reboot confirms → `EDGE_EXECUTION_FAILED`);
- window over with no sample to judge by, or an effect telemetry cannot show (`set_pool` by
  `pool_id`, a fan change without a before value) → succeeded, outcome `unverified`.
"""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from audit.services import Actor
from control.models import Command, CommandAttempt, CommandState, CommandType, Outcome
from control.services.transitions import command_lock, command_transition
from telemetry.models import TelemetryLive, TelemetryRaw

S = CommandState
ACTOR = Actor.system("control.verification")
SEEN, NOT_SEEN, UNOBSERVABLE = "seen", "not_seen", "unobservable"

VERIFY_WINDOW_SEC: dict[str, int] = {
    CommandType.REBOOT: 15 * 60,
    CommandType.DISABLE_HASHING: 5 * 60,
    CommandType.ENABLE_HASHING: 10 * 60,
    CommandType.SET_FREQUENCY: 10 * 60,
    CommandType.SET_FAN: 10 * 60,
    CommandType.SET_POOL: 10 * 60,
}
# A silence this long right after the lease counts as the reboot's disappearance.
REBOOT_GAP_SEC = 120
_FIELDS = ("ts", "online", "hashrate_5s_ghs", "frequency_avg", "fan_speeds", "uptime_seconds", "pool_url")


def _samples(command: Command, since: dt.datetime, until: dt.datetime) -> list[dict]:
    """The miner's samples in [since, until], oldest first: the raw tier plus the live row."""
    rows = {
        r["ts"]: r
        for r in TelemetryRaw.objects.filter(
            site_id=command.site_id, miner_id=command.miner_id, ts__gte=since, ts__lte=until
        ).values(*_FIELDS)
    }
    live = (
        TelemetryLive.objects.filter(miner_id=command.miner_id, ts__gte=since, ts__lte=until).values(*_FIELDS).first()
    )
    if live:
        rows.setdefault(live["ts"], live)
    return [rows[ts] for ts in sorted(rows)]


def _nominal_ghs(command: Command, before: dict | None) -> float | None:
    if command.miner.nominal_hashrate_ths:
        return float(command.miner.nominal_hashrate_ths) * 1000
    value = (before or {}).get("hashrate_5s_ghs")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _rebooted(
    samples: list[dict], leased_at: dt.datetime, last_before: dt.datetime | None, nominal: float | None
) -> bool:
    restarted_at = None
    for s in samples:
        age = (s["ts"] - leased_at).total_seconds()
        reset = s["uptime_seconds"] is not None and s["uptime_seconds"] <= age + 5
        if restarted_at is None and (reset or not s["online"]):
            restarted_at = s["ts"]
        elif restarted_at is None and last_before and (s["ts"] - last_before).total_seconds() > REBOOT_GAP_SEC:
            restarted_at = s["ts"]  # it disappeared across the command and came back
        if (
            restarted_at is not None
            and s["online"]
            and (nominal is None or (s["hashrate_5s_ghs"] or 0) >= 0.5 * nominal)
        ):
            return True
    return False


def effect_seen(command: Command, attempt: CommandAttempt, samples: list[dict], last_before: dt.datetime | None) -> str:
    before = attempt.before or command.before_snapshot
    nominal = _nominal_ghs(command, before)
    params = command.params or {}
    kind = command.command_type
    if kind == CommandType.REBOOT:
        return SEEN if _rebooted(samples, attempt.leased_at, last_before, nominal) else NOT_SEEN
    if kind == CommandType.DISABLE_HASHING:
        if nominal is None:
            return UNOBSERVABLE
        return (
            SEEN
            if any(s["hashrate_5s_ghs"] is not None and s["hashrate_5s_ghs"] < 0.05 * nominal for s in samples)
            else NOT_SEEN
        )
    if kind == CommandType.ENABLE_HASHING:
        if nominal is None:
            return UNOBSERVABLE
        return SEEN if any(s["online"] and (s["hashrate_5s_ghs"] or 0) >= 0.5 * nominal for s in samples) else NOT_SEEN
    if kind == CommandType.SET_FREQUENCY:
        target = params.get("frequency")
        if not isinstance(target, (int, float)) or target <= 0:
            return UNOBSERVABLE
        return (
            SEEN
            if any(
                s["frequency_avg"] is not None and abs(s["frequency_avg"] - target) <= 0.05 * target for s in samples
            )
            else NOT_SEEN
        )
    if kind == CommandType.SET_FAN:
        old = (before or {}).get("fan_speeds")
        if not old:
            return UNOBSERVABLE
        return SEEN if any(s["fan_speeds"] and list(s["fan_speeds"]) != list(old) for s in samples) else NOT_SEEN
    if kind == CommandType.SET_POOL:
        if "pool_url" not in params:
            return UNOBSERVABLE  # a pool_id switch: the collector reports the first pool, not the active one
        old = (before or {}).get("pool_url") or ""
        # Only raw samples carry pool_url; latest rows send "".
        changed = any(
            s["pool_url"] and (s["pool_url"] == params["pool_url"] or (old and s["pool_url"] != old)) for s in samples
        )
        return SEEN if changed else NOT_SEEN
    return UNOBSERVABLE


@transaction.atomic(savepoint=False)
def command_verify(
    command: Command, *, now: dt.datetime | None = None, attempt: CommandAttempt | None = None
) -> Command:
    """Decide an `acked` command from telemetry, or leave it `acked` while its window runs.

    With `attempt`, the caller (an ACK) holds the command and its current attempt locked in this
    transaction already; otherwise both are read again, the command locked."""
    return _verify(command, now=now, attempt=attempt)


def _verify(command: Command, *, now: dt.datetime | None, attempt: CommandAttempt | None) -> Command:
    now = now or timezone.now()
    if attempt is None:
        command = command_lock(command.pk)
        if command.state != S.ACKED:
            return command
        attempt = CommandAttempt.objects.get(command=command, attempt=command.attempt)
    elif command.state != S.ACKED:
        return command
    window = dt.timedelta(seconds=VERIFY_WINDOW_SEC.get(command.command_type, 600))
    deadline = (command.acked_at or now) + window
    command.miner  # noqa: B018 — loaded once for the nominal hashrate
    samples = _samples(command, attempt.leased_at, min(now, deadline))
    last_before = (
        TelemetryRaw.objects.filter(site_id=command.site_id, miner_id=command.miner_id, ts__lt=attempt.leased_at)
        .order_by("-ts")
        .values_list("ts", flat=True)
        .first()
        if command.command_type == CommandType.REBOOT
        else None
    )
    verdict = effect_seen(command, attempt, samples, last_before)
    edge_failed = attempt.ack_status == "failed"
    details = {"verdict": verdict, "samples": len(samples), "ack_status": attempt.ack_status}
    if verdict == SEEN:
        outcome = Outcome.VERIFIED_DESPITE_ACK if edge_failed else Outcome.VERIFIED
        return command_transition(
            command,
            to=S.SUCCEEDED,
            actor=ACTOR,
            reason="effect seen in telemetry",
            audit_details=details,
            outcome=outcome,
        )
    if verdict == NOT_SEEN and now < deadline:
        return command
    if edge_failed:
        return command_transition(
            command,
            to=S.FAILED,
            actor=ACTOR,
            reason="edge ACKed failure and telemetry shows no effect",
            audit_details=details,
            outcome=Outcome.EDGE_FAILED,
            error_code="EDGE_EXECUTION_FAILED",
            error_message=attempt.result_message,
        )
    if verdict == NOT_SEEN and samples:
        return command_transition(
            command,
            to=S.FAILED,
            actor=ACTOR,
            reason="effect not seen in telemetry within the window",
            audit_details=details,
            outcome=Outcome.VERIFICATION_FAILED,
            error_code="VERIFICATION_FAILED",
            error_message=f"no sample within {int(window.total_seconds())}s showed the effect ({len(samples)} samples)",
        )
    return command_transition(
        command,
        to=S.SUCCEEDED,
        actor=ACTOR,
        reason="effect not observable in telemetry",
        audit_details=details,
        outcome=Outcome.UNVERIFIED,
    )


def commands_verify_due(*, now: dt.datetime | None = None, batch: int = 500) -> int:
    """The beat job's body: try every acked command once; each in its own transaction."""
    decided = 0
    ids = list(Command.objects.filter(state=S.ACKED).order_by("acked_at").values_list("pk", flat=True)[:batch])
    for pk in ids:
        command = command_verify(Command(pk=pk), now=now)
        decided += command.state != S.ACKED
    return decided
