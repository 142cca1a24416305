"""The edge channel of the command queue (SPEC §6, §6.2; COLLECTOR_PROTOCOL §3): poll leases,
ACKs, lease expiry.

A lease is not a lock: every grant bumps `lease_epoch`, and an ACK decides only when it comes
from the current lease holder of the current attempt (the collector does not echo the epoch, so
the holder is matched by collector and device). Every ACK is kept as CommandAck evidence.
"""

import datetime as dt
import math
import re
from collections import Counter
from dataclasses import dataclass

import orjson
import structlog
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.services import Actor, audit_deferred, audit_record_many
from control import metrics
from control.models import (
    LEASED_STATES,
    TRANSITIONS,
    Command,
    CommandAck,
    CommandAttempt,
    CommandSigningKey,
    CommandState,
    CommandType,
    Outcome,
)
from control.services.signing import command_sign, signing_secret
from control.services.transitions import (
    command_transition,
    command_transition_many,
    command_write,
    transition_event,
)
from core.gc import gc_paused

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

# One poll's lease in one statement. `busy` and `top` are read once per poll from the site's
# active commands, not probed per candidate: the planner, working from statistics taken when
# hardly a row was active (a 1M-row table is rarely re-analyzed), scans a whole index per probe.
# The lease (SPEC §6 rules 1-3, 8; §6.2). `cand` takes the site's ready
# commands best first (command_ready_idx) with SKIP LOCKED, so concurrent polls split the queue and
# never wait on each other, and leaves out:
#   - miners with a leased command (`busy`: per-miner serial),
#   - commands waiting behind a higher class on their miner (`top`, arbitration: a proposed,
#     approved or queued command of a higher class goes first; command_pending_idx),
#   - miners another collector device reported within TELEMETRY_STALE_SEC (device affinity).
# `pick` keeps one command per miner and only miners whose slot no other poll is taking right now
# (the advisory lock; a miner it misses is skipped, never waited for). `leased` moves them to
# dispatched with a fresh epoch; `attempt` opens or re-opens (a lapsed lease re-dispatched under the
# same wire id) the attempt row. `scanned` tells whether another round could find more.
_LEASE_SQL = """
WITH busy AS MATERIALIZED (
    SELECT miner_id FROM control_command WHERE site_id = %(site)s AND state IN ('dispatched', 'running')
), top AS MATERIALIZED (
    SELECT miner_id, max(priority_class) AS priority_class FROM control_command
    WHERE site_id = %(site)s AND state IN ('proposed', 'approved', 'queued') AND expires_at > %(now)s
    GROUP BY miner_id HAVING min(priority_class) < max(priority_class)  -- only mixed classes can make one wait
), cand AS MATERIALIZED (
    SELECT c.id, c.miner_id, c.priority_class, c.priority, c.created_at
    FROM control_command c
    LEFT JOIN telemetry_live l ON l.miner_id = c.miner_id
    LEFT JOIN top t ON t.miner_id = c.miner_id
    WHERE c.site_id = %(site)s AND c.state = 'queued' AND c.expires_at > %(now)s
      AND (c.not_before IS NULL OR c.not_before <= %(now)s)
      {zone}
      AND c.miner_id NOT IN (SELECT miner_id FROM busy)
      AND (t.priority_class IS NULL OR t.priority_class <= c.priority_class)
      AND (l.miner_id IS NULL OR l.device_id = '' OR l.device_id = %(device)s OR l.ts < %(fresh)s)
    ORDER BY c.priority_class DESC, c.priority DESC, c.created_at
    LIMIT %(limit)s
    FOR UPDATE OF c SKIP LOCKED
), pick AS MATERIALIZED (
    SELECT id FROM (
        SELECT DISTINCT ON (miner_id) id, miner_id FROM cand ORDER BY miner_id, priority_class DESC, priority DESC, created_at
    ) AS best
    WHERE pg_try_advisory_xact_lock(%(slot)s, miner_id::int)
), leased AS (
    UPDATE control_command AS c
    SET state = 'dispatched', updated_at = %(now)s, lease_epoch = c.lease_epoch + 1, lease_collector_id = %(collector)s,
        lease_device_id = %(device)s, lease_until = %(until)s, blocked_reason = ''
    FROM pick WHERE c.id = pick.id
    RETURNING c.id, c.miner_id, c.tenant_id, c.command_type, c.params, c.priority_class, c.priority, c.created_at,
              c.attempt, c.lease_epoch, c.expires_at
), attempt AS (
    INSERT INTO control_commandattempt (command_id, attempt, wire_id, lease_epoch, collector_id, device_id, leased_at,
        lease_until, lease_ended_at, lease_end_reason, ack_status, error_class, result_message)
    SELECT id, attempt, CASE WHEN attempt = 1 THEN id::text ELSE id::text || '.' || attempt::text END, lease_epoch,
        %(collector)s, %(device)s, %(now)s, %(until)s, NULL, '', '', '', ''
    FROM leased
    ON CONFLICT (wire_id) DO UPDATE SET lease_epoch = EXCLUDED.lease_epoch, collector_id = EXCLUDED.collector_id,
        device_id = EXCLUDED.device_id, leased_at = EXCLUDED.leased_at, lease_until = EXCLUDED.lease_until,
        lease_ended_at = NULL, lease_end_reason = ''
)
SELECT x.id, x.miner_id, x.tenant_id, x.command_type, x.params, x.attempt, x.lease_epoch, x.expires_at, m.miner_id, m.miner_key,
    (SELECT count(*) FROM cand), (SELECT k.salt FROM control_commandsigningkey k WHERE k.collector_id = %(collector)s AND k.enabled)
FROM leased x JOIN tenants_miner m ON m.id = x.miner_id
ORDER BY x.priority_class DESC, x.priority DESC, x.created_at
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


def iso_z(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class _Grant:
    """One lease a poll granted: what its wire object, audit event and metrics read, and nothing
    else. Command and Miner model instances cost more CPU than the lease statement itself (~4 ms
    for 100 grants), and a poll's CPU is what ten concurrent polls queue for on a small host."""

    pk: int
    tenant_id: int
    site: object
    miner_id: int  # the Miner pk, as on Command
    miner: "_GrantMiner"
    command_type: str
    params: dict
    attempt: int
    lease_epoch: int
    expires_at: dt.datetime
    lease_until: dt.datetime

    wire_id = Command.wire_id


@dataclass(slots=True)
class _GrantMiner:
    miner_id: str
    miner_key: str


def _lease(*, collector, device_id: str, limit: int, now: dt.datetime) -> tuple[list[_Grant], str | None]:
    """Lease up to `limit` ready commands, at most one per miner, as grants carrying the fields the
    wire object and the audit event need; and the collector's signing salt, if any."""
    zone = "AND c.zone_id = %(zone)s" if collector.zone_id else ""
    until = now + dt.timedelta(seconds=settings.COMMAND_LEASE_SEC)
    params = {
        "site": collector.site_id, "zone": collector.zone_id, "now": now, "device": device_id, "collector": collector.pk,
        "fresh": now - dt.timedelta(seconds=settings.TELEMETRY_STALE_SEC), "slot": _MINER_SLOT_LOCK, "until": until,
    }  # fmt: skip
    grants: list[_Grant] = []
    salt = None
    site = collector.site
    with connection.cursor() as cur:
        for _ in range(4):  # another round only when candidates shared a miner or lost its slot
            want = limit - len(grants)
            cur.execute(_LEASE_SQL.format(zone=zone), params | {"limit": want})
            rows = cur.fetchall()
            for pk, miner_pk, tenant_id, kind, args, attempt, epoch, expires_at, miner_id, miner_key, _, salt in rows:
                args = orjson.loads(args) if isinstance(args, str) else args
                grants.append(_Grant(pk, tenant_id, site, miner_pk, _GrantMiner(miner_id, miner_key), kind, args, attempt, epoch, expires_at, until))
            scanned = rows[0][10] if rows else 0
            # Nothing leased ends the poll: its candidates (if any) were all taken by other polls.
            if not rows or len(grants) >= limit or scanned < want:
                break
    return grants, salt


def command_poll_lease(*, principal, limit: int) -> list[dict]:
    """Lease the calling collector's ready commands (queued → dispatched) and return their wire objects.

    The lease statement is the transition: it re-reads each row locked (`state = 'queued'` under
    FOR UPDATE) and refuses the rest, and every lease is audited below in the same transaction."""
    with gc_paused():
        return _poll_lease(principal=principal, limit=limit)


def _poll_lease(*, principal, limit: int) -> list[dict]:
    assert S.DISPATCHED in TRANSITIONS[S.QUEUED]
    collector = principal.collector
    device_id = principal.device_id
    for retry in range(3):
        now = timezone.now()
        try:
            with transaction.atomic():
                commands, salt = _lease(collector=collector, device_id=device_id, limit=limit, now=now)
                if not commands:
                    return []
                actor = Actor.collector(collector, device_id)
                # Last, so the chain head is locked only for the append and the commit.
                audit_record_many(actor=actor, events=[_dispatched_event(c, collector=collector, device_id=device_id) for c in commands])
            break
        except IntegrityError as exc:
            # A miner whose lease another poll committed after this statement's snapshot was taken:
            # the unique index refused the second lease. A new statement sees it and skips the miner.
            if "one_leased_command_per_miner" not in str(exc) or retry == 2:
                raise
    by_type = Counter(c.command_type for c in commands)
    transaction.on_commit(lambda: [metrics.commands_dispatched_total.labels(kind).inc(n) for kind, n in by_type.items()])
    secret = signing_secret(CommandSigningKey(collector_id=collector.pk, salt=salt)) if salt else ""
    return [command_wire(c, collector=collector, now=now, signing_secret_value=secret) for c in commands]


def _dispatched_event(command: _Grant, *, collector, device_id: str):
    details = {"wire_id": command.wire_id(), "collector": collector.name, "device_id": device_id, "lease_until": command.lease_until}
    return transition_event(command, frm=S.QUEUED, to=S.DISPATCHED, reason="leased by poll", **details)


def command_wire(command: Command | _Grant, *, collector, now: dt.datetime, signing_secret_value: str = "") -> dict:
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
        command = Command.objects.select_for_update(of=("self",)).select_related("site", "miner").filter(pk=parsed[0], site=collector.site).first()
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
    attempt.save(update_fields=["ack_status", "result_code", "error_class", "result_message", "before", "after", "acked_at", "lease_ended_at", "lease_end_reason"])
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
        # Written once, by the verdict's transition, when telemetry can already tell.
        command_transition(command, to=S.ACKED, actor=actor, reason=f"edge ACK {status}", audit_details=details, write=False, **common)
        from control.services.verification import command_verify

        command_verify(command, now=now, attempt=attempt)
        command_write(command)
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
