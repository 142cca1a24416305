"""The one way a command changes state: checked against TRANSITIONS, audited in the same
transaction, in the owning tenant's chain (SPEC §8)."""

from typing import Protocol

from django.db import connection, transaction
from django.utils import timezone

from audit.services import Actor, EventSpec, audit_record_many
from control import metrics
from control.errors import InvalidTransition
from control.models import FINAL_STATES, TRANSITIONS, Command, CommandState
from tenants.models import Site

# The outcome counters move here, in the one place a command changes state, so each command
# that ends counts once however it ended (an ACK, its verification, expiry, preemption).
_SUCCEEDED, _FAILED = CommandState.SUCCEEDED, (CommandState.FAILED, CommandState.EXPIRED)


def command_lock(pk: int) -> Command:
    """Re-read a command with its row locked: every transition starts here. Only its row: the
    site row, locked too, would hold off every insert that references the site until commit."""
    return Command.objects.select_for_update(of=("self",)).select_related("site").get(pk=pk)


class Transitioned(Protocol):
    """What a transition's audit event reads: a Command, or one of a poll's lease grants."""

    @property
    def pk(self) -> int: ...
    @property
    def tenant_id(self) -> int: ...
    @property
    def site(self) -> Site: ...
    @property
    def miner_id(self) -> int: ...
    @property
    def command_type(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def lease_epoch(self) -> int: ...


def transition_event(command: Transitioned, *, frm: str, to: str, reason: str = "", **details) -> EventSpec:
    payload = {
        "from": frm,
        "to": to,
        "reason": reason,
        "command_type": command.command_type,
        "miner": command.miner_id,
        "attempt": command.attempt,
        "lease_epoch": command.lease_epoch,
        **details,
    }
    return EventSpec(
        f"control.command.{to}", "control.command", str(command.pk), payload, command.tenant_id, command.site.code
    )


def command_transition(
    command: Command,
    *,
    to: str,
    actor: Actor,
    reason: str = "",
    audit_details: dict | None = None,
    write: bool = True,
    **changes,
) -> Command:
    """Move a locked command to `to`, applying `changes` to its fields, or refuse with INVALID_TRANSITION.

    The refusal comes before any write, so a caller may catch it and go on. The write and its
    audit event share the caller's transaction without a savepoint of their own (a failure there
    fails the caller's transaction: a state change never commits without its event), which saves
    two round trips per transition on the ACK path. With `write=False` the row is written by the
    next transition of this instance or by `command_write()`, in the same transaction: an ACK
    that verifies at once (acked → succeeded) writes the row once, not twice."""
    frm = command.state
    if to not in TRANSITIONS[frm]:
        raise InvalidTransition(f"command {command.pk} cannot go from {frm} to {to}", command_id=command.pk, state=frm)
    with transaction.atomic(savepoint=False):
        now = timezone.now()
        command.state = to
        command.updated_at = now
        fields = {"state", "updated_at", *changes, *getattr(command, "_unwritten", ())}
        if to in FINAL_STATES and command.finished_at is None:
            command.finished_at = now
            fields.add("finished_at")
        for field, value in changes.items():
            setattr(command, field, value)
        command._unwritten = fields
        _count_outcomes([command], to)
        if write:
            command_write(command)
        audit_record_many(
            actor=actor, events=[transition_event(command, frm=frm, to=to, reason=reason, **(audit_details or {}))]
        )
    return command


def _count_outcomes(commands: list[Command], to: str) -> None:
    """Outcome counters, once the transaction that ended the commands has committed."""
    labels: list[tuple[str, ...]]
    if to == _SUCCEEDED:
        labels = [(c.command_type,) for c in commands]
        counter = metrics.commands_succeeded_total
    elif to in _FAILED:
        labels = [(c.command_type, c.error_code or to.upper()) for c in commands]
        counter = metrics.commands_failed_total
    else:
        return

    def count() -> None:
        for label in labels:
            counter.labels(*label).inc()

    transaction.on_commit(count)


def command_write(command: Command) -> None:
    """Write the fields that transitions with `write=False` changed, if any."""
    fields = getattr(command, "_unwritten", None)
    if fields:
        command.save(update_fields=sorted(fields))
    command._unwritten = set()


def command_transition_many(
    commands: list[Command], *, to: str, actor: Actor, reason: str = "", changes=None, audit_details=None
) -> list[Command]:
    """command_transition for many locked commands in one UPDATE and one audit append (a poll
    grants up to 100 leases; the lease-expiry job re-queues many). `changes(command)` returns the
    per-command field values; `audit_details(command)` the extra audit payload. All or nothing:
    one illegal transition refuses them all before anything is written."""
    if not commands:
        return []
    for command in commands:
        if to not in TRANSITIONS[command.state]:
            raise InvalidTransition(
                f"command {command.pk} cannot go from {command.state} to {to}",
                command_id=command.pk,
                state=command.state,
            )
    with transaction.atomic(savepoint=False):
        return _transition_many(
            commands, to=to, actor=actor, reason=reason, changes=changes, audit_details=audit_details
        )


def _transition_many(
    commands: list[Command], *, to: str, actor: Actor, reason: str, changes, audit_details
) -> list[Command]:
    now = timezone.now()
    fields = {"state", "updated_at"}
    events = []
    for command in commands:
        frm = command.state
        command.state = to
        command.updated_at = now
        if to in FINAL_STATES and command.finished_at is None:
            command.finished_at = now
            fields.add("finished_at")
        for field, value in (changes(command) if changes else {}).items():
            setattr(command, field, value)
            fields.add(field)
        events.append(
            transition_event(
                command, frm=frm, to=to, reason=reason, **(audit_details(command) if audit_details else {})
            )
        )
    _update_rows(commands, sorted(fields))
    audit_record_many(actor=actor, events=events)
    _count_outcomes(commands, to)
    return commands


def _update_rows(commands: list[Command], names: list[str]) -> None:
    """One UPDATE … FROM (VALUES …): bulk_update's CASE per field costs more than the lease itself."""
    concrete = {f.name: f for f in Command._meta.concrete_fields}
    fields = [concrete[n] for n in names]
    row = "(%s::bigint, " + ", ".join(f"%s::{f.db_type(connection)}" for f in fields) + ")"
    params: list = []
    for command in commands:
        params.append(command.pk)
        params += [f.get_db_prep_save(getattr(command, f.attname), connection) for f in fields]
    sets = ", ".join(f'"{f.column}" = v."{f.column}"' for f in fields)
    cols = ", ".join(f'"{f.column}"' for f in fields)
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE control_command AS c SET {sets} "
            f"FROM (VALUES {', '.join([row] * len(commands))}) AS v(id, {cols}) "
            "WHERE c.id = v.id",
            params,
        )
