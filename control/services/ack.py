"""The edge channel, ACK side: every ACK is kept as CommandAck evidence; the one from the current
lease holder decides the attempt (retry, fail, or hand over to telemetry verification)."""

import datetime as dt
import re
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from audit.services import Actor, audit_deferred
from control import metrics
from control.models import (
    LEASED_STATES,
    Command,
    CommandAck,
    CommandAttempt,
    CommandState,
    CommandType,
    Outcome,
)
from control.services.transitions import (
    command_transition,
    command_write,
)
from control.services.verification import command_verify

logger = structlog.get_logger(__name__)

S = CommandState

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
        return _STATUS_BY_CODE.get(int(payload.get("result_code", "")), "")
    except (TypeError, ValueError):
        return ""


@transaction.atomic
def command_ack(*, principal, wire_id: str, payload: dict, endpoint: str) -> CommandAck:
    """Record an ACK and, when it is the first from the current lease holder, let it decide.

    Its audit events (`acked` and, when telemetry can already tell, the verdict) are appended
    together at the end, so the tenant's chain head is not held while the ACK is verified."""
    with audit_deferred():
        return _ack(principal=principal, wire_id=wire_id, payload=payload, endpoint=endpoint)


def _ack(*, principal, wire_id: str, payload: dict, endpoint: str) -> CommandAck:
    collector = principal.collector
    device_id = principal.device_id or _text(payload.get("device_id"), 128)
    now = timezone.now()
    wire_id = _text(wire_id, 64)
    command = attempt = None
    parsed = parse_wire_id(wire_id)
    if parsed:
        # Locked: two ACKs for one command (a replay racing the original) are decided one at a time.
        # Only the command row: FOR UPDATE on the joined site and miner would also hold off every
        # insert that references them (an upload's receipt, a new command) until this ACK commits.
        command = (
            Command.objects.select_for_update(of=("self",))
            .select_related("site", "miner")
            .filter(pk=parsed[0], site=collector.site)
            .first()
        )
        if command is not None:
            attempt = CommandAttempt.objects.select_for_update().filter(command=command, attempt=parsed[1]).first()

    def record(disposition):
        transaction.on_commit(lambda: metrics.command_acks_total.labels(disposition).inc())
        return CommandAck.objects.create(
            command=command,
            wire_id=wire_id,
            collector=collector,
            device_id=device_id,
            endpoint=endpoint,
            received_at=now,
            payload=payload,
            disposition=disposition,
        )

    if command is None or attempt is None:
        logger.info("command.ack_unknown", wire_id=wire_id, collector=collector.pk)
        return record(CommandAck.Disposition.UNKNOWN)
    if attempt.ack_status:
        # Decided already: the same lease's ACK again is a replay; anyone else's is late.
        same = attempt.collector_id == collector.pk and (
            not attempt.device_id or not device_id or attempt.device_id == device_id
        )
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


def _decide(
    command: Command, attempt: CommandAttempt, payload: dict, *, principal, device_id: str, now: dt.datetime
) -> None:
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
    attempt.save(
        update_fields=[
            "ack_status",
            "result_code",
            "error_class",
            "result_message",
            "before",
            "after",
            "acked_at",
            "lease_ended_at",
            "lease_end_reason",
        ]
    )
    latency = (now - attempt.leased_at).total_seconds()
    transaction.on_commit(lambda: metrics.command_ack_latency_seconds.labels(command.command_type).observe(latency))

    actor = Actor.collector(principal.collector, device_id)
    common: dict[str, Any] = {"ack_payload": payload, "acked_at": now}
    if command.before_snapshot is None and attempt.before is not None:
        common["before_snapshot"] = attempt.before  # what rollback restores: the state before the first execution
    details = {
        "wire_id": attempt.wire_id,
        "ack_status": status,
        "error_class": error_class,
        "result_message": message[:200],
    }
    restart_failed = (
        status == "failed" and error_class in ("execution_failed", "") and command.command_type == CommandType.REBOOT
    )

    if status in ("completed", "skipped") or restart_failed:
        # skipped = DUPLICATE_IGNORED: executed earlier, its ACK lost; a failed restart on stock
        # firmware often did restart. Telemetry decides all three (control.services.verification).
        # Written once, by the verdict's transition, when telemetry can already tell.
        command_transition(
            command, to=S.ACKED, actor=actor, reason=f"edge ACK {status}", audit_details=details, write=False, **common
        )
        command_verify(command, now=now, attempt=attempt)
        command_write(command)
    elif status == "failed" and error_class == "execution_failed" and command.attempt <= command.max_retries:
        backoff = command.retry_backoff_sec * 2 ** (command.attempt - 1)
        command_transition(
            command,
            to=S.QUEUED,
            actor=actor,
            reason=f"retry after execution_failed, backoff {backoff}s",
            audit_details=details,
            attempt=command.attempt + 1,
            not_before=now + dt.timedelta(seconds=backoff),
            lease_collector=None,
            lease_device_id="",
            lease_until=None,
            **common,
        )
    elif status == "rejected":
        command_transition(
            command,
            to=S.FAILED,
            actor=actor,
            reason="refused by the edge",
            audit_details=details,
            outcome=Outcome.EDGE_REJECTED,
            error_code=_edge_code(error_class, "EDGE_REJECTED_"),
            error_message=message,
            **common,
        )
    else:
        code = _edge_code(error_class) if status == "failed" else "EDGE_UNKNOWN_STATUS"
        command_transition(
            command,
            to=S.FAILED,
            actor=actor,
            reason="edge reported failure",
            audit_details=details,
            outcome=Outcome.EDGE_FAILED,
            error_code=code,
            error_message=message,
            **common,
        )
