"""The edge channel of the command queue (SPEC §6, §6.2; COLLECTOR_PROTOCOL §3): poll leases,
ACKs, lease expiry.

A lease is not a lock: every grant bumps `lease_epoch`, and an ACK decides only when it comes
from the current lease holder of the current attempt (the collector does not echo the epoch, so
the holder is matched by collector and device). Every ACK is kept as CommandAck evidence.
"""

import datetime as dt
import math
import re

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.services import Actor
from control import metrics
from control.models import LEASED_STATES, Command, CommandAck, CommandAttempt, CommandState, CommandType, Outcome
from control.services.signing import command_sign, signing_key_for, signing_secret
from control.services.transitions import command_lock, command_transition, command_transition_many

logger = structlog.get_logger(__name__)

S = CommandState
SYSTEM = Actor.system("control.queue")

# cloud command_type → the collector's action name (SPEC §6.1)
EDGE_ACTION = {
    CommandType.REBOOT: "restart",
    CommandType.DISABLE_HASHING: "disable",
    CommandType.ENABLE_HASHING: "enable",
    CommandType.SET_FREQUENCY: "set_frequency",
    CommandType.SET_FAN: "set_fan",
    CommandType.SET_POOL: "set_pool",
}

# The two-key advisory lock space of "the per-miner lease slot"; the second key is the miner pk.
_MINER_SLOT_LOCK = 0x434D44  # "CMD"

# Ready commands of one site, best first (command_ready_idx), that no other poll holds, whose
# miner has no leased command (`busy`), and whose miner was not last reported by another fresh device.
_CANDIDATES_SQL = """
SELECT c.id, c.miner_id FROM control_command c
LEFT JOIN telemetry_live l ON l.miner_id = c.miner_id
WHERE c.site_id = %(site)s AND c.state = 'queued' AND c.expires_at > %(now)s
  AND (c.not_before IS NULL OR c.not_before <= %(now)s)
  {zone}
  AND c.id <> ALL(%(seen)s::bigint[])
  AND c.miner_id <> ALL(%(busy)s::int[])
  AND (l.miner_id IS NULL OR l.device_id = '' OR l.device_id = %(device)s OR l.ts < %(fresh)s)
ORDER BY c.priority_class DESC, c.priority DESC, c.created_at
LIMIT %(limit)s
FOR UPDATE OF c SKIP LOCKED
"""


def count_final(commands) -> None:
    """Outcome counters, once the transaction that ended the commands has committed."""

    def count():
        for c in commands:
            if c.state == S.SUCCEEDED:
                metrics.commands_succeeded_total.labels(c.command_type).inc()
            elif c.state in (S.FAILED, S.EXPIRED):
                metrics.commands_failed_total.labels(c.command_type, c.error_code or c.state.upper()).inc()

    transaction.on_commit(count)


_BUSY_SQL = "SELECT miner_id FROM control_command WHERE site_id = %s AND state IN ('dispatched', 'running')"


def iso_z(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _lease_candidates(*, collector, device_id: str, limit: int, now: dt.datetime) -> list[int]:
    """Lock up to `limit` ready commands, at most one per miner. A miner whose slot another poll
    is taking right now is skipped, never an error: the partial unique index would refuse it."""
    chosen: dict[int, int] = {}  # miner → command
    seen: list[int] = []
    zone = "AND c.zone_id = %(zone)s" if collector.zone_id else ""
    fresh = now - dt.timedelta(seconds=settings.TELEMETRY_STALE_SEC)
    with connection.cursor() as cur:
        # The site's leased miners, read first: a per-candidate NOT EXISTS lets a planner working
        # from stale statistics (a 1M-row table is rarely re-analyzed) scan a whole index per row.
        cur.execute(_BUSY_SQL, [collector.site_id])
        busy = [m for (m,) in cur.fetchall()]
        for _ in range(4):  # another round only when candidates shared a miner or lost its slot
            want = limit - len(chosen)
            params = {"site": collector.site_id, "zone": collector.zone_id, "now": now, "seen": seen, "device": device_id, "fresh": fresh, "limit": want, "busy": busy}
            cur.execute(_CANDIDATES_SQL.format(zone=zone), params)
            rows = cur.fetchall()
            seen += [pk for pk, _ in rows]
            fresh_miners = {}
            for pk, miner in rows:
                if miner not in chosen and miner not in fresh_miners:
                    fresh_miners[miner] = pk
            if fresh_miners:
                # Two polls may have locked two different commands of one miner. The advisory lock
                # picks one; the re-check runs in a new statement (a new snapshot under READ
                # COMMITTED), so it sees a lease the other poll committed before we got the lock.
                cur.execute(
                    "SELECT m FROM unnest(%s::int[]) AS m WHERE pg_try_advisory_xact_lock(%s, m)",
                    [sorted(fresh_miners), _MINER_SLOT_LOCK],
                )
                locked = [m for (m,) in cur.fetchall()]
                cur.execute(
                    "SELECT DISTINCT miner_id FROM control_command WHERE miner_id = ANY(%s) AND state IN ('dispatched', 'running')",
                    [locked],
                )
                taken = {m for (m,) in cur.fetchall()}
                for miner in locked:
                    if miner not in taken and len(chosen) < limit:
                        chosen[miner] = fresh_miners[miner]
            if len(chosen) >= limit or len(rows) < want:
                break
    return list(chosen.values())


def command_wire(command: Command, *, collector, now: dt.datetime, signing_secret_value: str = "") -> dict:
    """The command object a collector reads (SPEC §6.1, COLLECTOR_PROTOCOL §3.2)."""
    wire = {
        "command_id": command.wire_id(),
        "miner_id": command.miner.miner_id,
        "command": EDGE_ACTION.get(command.command_type, command.command_type),
        "params": dict(command.params or {}),
        "site_id": collector.site.code,
    }
    if command.miner.miner_key:
        wire["miner_key"] = command.miner.miner_key
    if collector.zone_id:
        wire["zone_id"] = collector.zone.code
    wire |= {
        "issued_at": iso_z(now),
        "ttl_sec": max(1, math.ceil((command.expires_at - now).total_seconds())),
        "expires_at": iso_z(command.expires_at),
        "lease_epoch": command.lease_epoch,
    }
    if signing_secret_value:
        wire["signature"] = command_sign(wire, signing_secret_value)
    return wire


@transaction.atomic
def command_poll_lease(*, principal, limit: int) -> list[dict]:
    """Lease the calling collector's ready commands (queued → dispatched) and return their wire objects."""
    collector = principal.collector
    now = timezone.now()
    ids = _lease_candidates(collector=collector, device_id=principal.device_id, limit=limit, now=now)
    if not ids:
        return []
    commands = list(Command.objects.filter(pk__in=ids).select_related("miner").order_by("-priority_class", "-priority", "created_at"))
    lease_until = now + dt.timedelta(seconds=settings.COMMAND_LEASE_SEC)
    for command in commands:
        command.site = collector.site  # the audit event names the site; all of them are the caller's

    def lease(command):
        return {"lease_epoch": command.lease_epoch + 1, "lease_collector": collector, "lease_device_id": principal.device_id, "lease_until": lease_until}

    command_transition_many(
        commands,
        to=S.DISPATCHED,
        actor=Actor.collector(collector, principal.device_id),
        reason="leased by poll",
        changes=lease,
        audit_details=lambda c: {"wire_id": c.wire_id(), "collector": collector.name, "device_id": principal.device_id, "lease_until": lease_until},
    )
    # A re-dispatch after a lapsed lease keeps its wire id, so its attempt row takes the new lease.
    CommandAttempt.objects.bulk_create(
        [
            CommandAttempt(
                command=c, attempt=c.attempt, wire_id=c.wire_id(), lease_epoch=c.lease_epoch, collector=collector,
                device_id=principal.device_id, leased_at=now, lease_until=lease_until, lease_ended_at=None, lease_end_reason="",
            )
            for c in commands
        ],
        update_conflicts=True,
        unique_fields=["wire_id"],
        update_fields=["lease_epoch", "collector", "device_id", "leased_at", "lease_until", "lease_ended_at", "lease_end_reason"],
    )  # fmt: skip
    transaction.on_commit(lambda: [metrics.commands_dispatched_total.labels(c.command_type).inc() for c in commands])
    key = signing_key_for(collector)
    secret = signing_secret(key) if key else ""
    return [command_wire(c, collector=collector, now=now, signing_secret_value=secret) for c in commands]


# --- ACKs -----------------------------------------------------------------------------------------

_WIRE_ID = re.compile(r"^(\d{1,18})(?:\.(\d{1,6}))?$")
_EDGE_ERRORS = {
    "execution_failed": "EDGE_EXECUTION_FAILED",
    "not_found": "EDGE_NOT_FOUND",
    "unsupported_action": "EDGE_UNSUPPORTED_ACTION",
    "invalid_target": "EDGE_INVALID_TARGET",
    "bad_request": "EDGE_BAD_REQUEST",
    "zone_mismatch": "EDGE_ZONE_MISMATCH",
    "unsupported_protocol": "EDGE_UNSUPPORTED_PROTOCOL",
}
_STATUS_BY_CODE = {0: "completed", 1: "failed", 2: "skipped", 3: "rejected"}


def _edge_code(error_class: str, prefix: str = "EDGE_") -> str:
    cls = re.sub(r"[^A-Za-z0-9]+", "_", error_class or "").strip("_").upper()
    if prefix == "EDGE_" and error_class in _EDGE_ERRORS:
        return _EDGE_ERRORS[error_class]
    return prefix + (cls or "UNSPECIFIED")


def _text(value, limit: int = 2000) -> str:
    return ("" if value is None else str(value))[:limit]


def _snapshot(value):
    return value if isinstance(value, dict) else None


def parse_wire_id(wire_id: str) -> tuple[int, int] | None:
    m = _WIRE_ID.match(wire_id or "")
    if not m:
        return None
    return int(m.group(1)), int(m.group(2) or 1)


def _ack_status(payload: dict) -> str:
    status = payload.get("status")
    if isinstance(status, str) and status in _STATUS_BY_CODE.values():
        return status
    try:
        return _STATUS_BY_CODE.get(int(payload.get("result_code")), "")
    except (TypeError, ValueError):
        return ""


@transaction.atomic
def command_ack(*, principal, wire_id: str, payload: dict, endpoint: str) -> CommandAck:
    """Record an ACK and, when it is the first from the current lease holder, let it decide."""
    collector = principal.collector
    device_id = principal.device_id or _text(payload.get("device_id"), 128)
    now = timezone.now()
    wire_id = _text(wire_id, 64)
    command = attempt = None
    parsed = parse_wire_id(wire_id)
    if parsed:
        # Locked: two ACKs for one command (a replay racing the original) are decided one at a time.
        command = Command.objects.select_for_update().select_related("site", "miner").filter(pk=parsed[0], site=collector.site).first()
        if command is not None:
            attempt = CommandAttempt.objects.select_for_update().filter(command=command, attempt=parsed[1]).first()

    def record(disposition):
        return CommandAck.objects.create(
            command=command, wire_id=wire_id, collector=collector, device_id=device_id, endpoint=endpoint,
            received_at=now, payload=payload, disposition=disposition,
        )  # fmt: skip

    if command is None or attempt is None:
        logger.info("command.ack_unknown", wire_id=wire_id, collector=collector.pk)
        return record(CommandAck.Disposition.UNKNOWN)
    if attempt.ack_status:
        # Decided already: the same lease's ACK again is a replay; anyone else's is late.
        same = attempt.collector_id == collector.pk and (not attempt.device_id or not device_id or attempt.device_id == device_id)
        return record(CommandAck.Disposition.REPLAY if same else CommandAck.Disposition.LATE)
    holder = (
        command.state in LEASED_STATES
        and attempt.attempt == command.attempt
        and command.lease_collector_id == collector.pk
        and (not command.lease_device_id or not device_id or command.lease_device_id == device_id)
    )
    echoed = payload.get("lease_epoch")
    if holder and isinstance(echoed, int) and echoed != command.lease_epoch:
        holder = False  # a future collector that echoes the epoch answers an older lease
    if not holder:
        # From a lapsed lease: evidence only; it neither frees a newer lease's slot nor counts twice.
        return record(CommandAck.Disposition.LATE)
    ack = record(CommandAck.Disposition.FIRST)
    _decide(command, attempt, payload, principal=principal, device_id=device_id, now=now)
    return ack


def _decide(command: Command, attempt: CommandAttempt, payload: dict, *, principal, device_id: str, now: dt.datetime) -> None:
    status = _ack_status(payload)
    error_class = _text(payload.get("error_class"), 64)
    message = _text(payload.get("result_message"))
    result_code = payload.get("result_code")
    attempt.ack_status = status or "unknown"
    attempt.result_code = result_code if isinstance(result_code, int) else None
    attempt.error_class = error_class
    attempt.result_message = message
    attempt.before = _snapshot(payload.get("before"))
    attempt.after = _snapshot(payload.get("after"))
    attempt.acked_at = now
    attempt.lease_ended_at = now
    attempt.lease_end_reason = "acked"
    attempt.save()
    latency = (now - attempt.leased_at).total_seconds()
    transaction.on_commit(lambda: metrics.command_ack_latency_seconds.labels(command.command_type).observe(latency))

    actor = Actor.collector(principal.collector, device_id)
    common = {"ack_payload": payload, "acked_at": now}
    if command.before_snapshot is None and attempt.before is not None:
        common["before_snapshot"] = attempt.before  # what rollback restores: the state before the first execution
    details = {"wire_id": attempt.wire_id, "ack_status": status, "error_class": error_class, "result_message": message[:200]}
    restart_failed = status == "failed" and error_class in ("execution_failed", "") and command.command_type == CommandType.REBOOT

    if status in ("completed", "skipped") or restart_failed:
        # skipped = DUPLICATE_IGNORED: executed earlier, its ACK lost; a failed restart on stock
        # firmware often did restart. Telemetry decides all three (control.services.verification).
        command_transition(command, to=S.ACKED, actor=actor, reason=f"edge ACK {status}", audit_details=details, **common)
        from control.services.verification import command_verify

        command_verify(command, now=now)
    elif status == "failed" and error_class == "execution_failed" and command.attempt <= command.max_retries:
        backoff = command.retry_backoff_sec * 2 ** (command.attempt - 1)
        command_transition(
            command, to=S.QUEUED, actor=actor, reason=f"retry after execution_failed, backoff {backoff}s", audit_details=details,
            attempt=command.attempt + 1, not_before=now + dt.timedelta(seconds=backoff),
            lease_collector=None, lease_device_id="", lease_until=None, **common,
        )  # fmt: skip
    elif status == "rejected":
        command_transition(
            command, to=S.FAILED, actor=actor, reason="refused by the edge", audit_details=details,
            outcome=Outcome.EDGE_REJECTED, error_code=_edge_code(error_class, "EDGE_REJECTED_"), error_message=message, **common,
        )  # fmt: skip
        count_final([command])
    else:
        code = _edge_code(error_class) if status == "failed" else "EDGE_UNKNOWN_STATUS"
        command_transition(
            command, to=S.FAILED, actor=actor, reason="edge reported failure", audit_details=details,
            outcome=Outcome.EDGE_FAILED, error_code=code, error_message=message, **common,
        )  # fmt: skip
    count_final([command])


# --- lease expiry and TTL -------------------------------------------------------------------------


@transaction.atomic
def commands_expire_due(*, now: dt.datetime | None = None, batch: int = 1000) -> dict[str, int]:
    """Lapsed leases go back to the queue with the same wire id (an edge that already ran it
    answers `skipped`) while TTL and COMMAND_MAX_LEASES allow, else expire; commands waiting past
    their TTL expire. Rows another transaction holds are left for the next run."""
    now = now or timezone.now()
    lapsed = list(
        Command.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("site")
        .filter(state__in=LEASED_STATES, lease_until__lt=now)
        .order_by("pk")[:batch]
    )
    requeue = [c for c in lapsed if c.expires_at > now and c.lease_epoch < settings.COMMAND_MAX_LEASES]
    ended = [c for c in lapsed if c not in requeue]
    CommandAttempt.objects.filter(command__in=lapsed, lease_ended_at__isnull=True).update(lease_ended_at=now, lease_end_reason="lapsed")
    free = {"lease_collector": None, "lease_device_id": "", "lease_until": None}
    lapse_details = lambda c: {"wire_id": c.wire_id(), "lease_until": c.lease_until}  # noqa: E731
    command_transition_many(requeue, to=S.QUEUED, actor=SYSTEM, reason="lease lapsed without ACK: re-dispatch", changes=lambda c: free, audit_details=lapse_details)
    expired = {"outcome": Outcome.TIMED_OUT, "error_code": "COMMAND_EXPIRED", "error_message": "no ACK before the command's TTL"}
    command_transition_many(ended, to=S.EXPIRED, actor=SYSTEM, reason="lease lapsed after TTL or lease cap", changes=lambda c: expired, audit_details=lapse_details)
    waiting = list(
        Command.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("site")
        .filter(state__in=(S.PROPOSED, S.APPROVED, S.QUEUED), expires_at__lte=now)
        .order_by("pk")[:batch]
    )
    ttl = {"outcome": Outcome.TIMED_OUT, "error_code": "COMMAND_EXPIRED", "error_message": "TTL passed before dispatch"}
    command_transition_many(waiting, to=S.EXPIRED, actor=SYSTEM, reason="TTL passed", changes=lambda c: ttl)
    count_final(ended + waiting)
    result = {"requeued": len(requeue), "expired_leased": len(ended), "expired_waiting": len(waiting)}
    if any(result.values()):
        logger.info("commands.expiry", **result)
    return result
