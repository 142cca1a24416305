"""One command's audit trail, checked on its own (SPEC §8): every event of its timeline — its own
and the shared `control.commands.dispatched` events of the polls that leased it — re-hashed and
linked to the event before it in its chain, and every lease it ever got (lease_epoch 1…n: each
grant bumps it by one) present in a dispatch event. A dropped or edited shared event therefore
shows on the page of every command it listed, not only in `verify_audit_chain`."""

from dataclasses import dataclass, field

from audit.models import AuditEvent
from audit.verify import events_verify
from control.models import Command
from control.selectors import command_events
from control.services.poll import DISPATCHED

LEGACY_DISPATCHED = "control.command.dispatched"  # one event per command, before SPEC §8 changed


@dataclass
class TrailLine:
    event: AuditEvent
    problem: str = ""
    lease: dict | None = None  # this command's entry in a shared dispatch event


@dataclass
class CommandTrail:
    lines: list[TrailLine] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not any(line.problem for line in self.lines)

    def problems(self) -> list[str]:
        out = []
        for line in self.lines:
            if line.problem:
                e = line.event
                out.append(f"event {e.pk} (seq {e.seq}, {e.action}): {line.problem}")
        return out + self.missing


def command_trail(command: Command) -> CommandTrail:
    events = list(command_events(command))
    problems = events_verify(events)
    trail = CommandTrail()
    epochs: set[int | None] = set()
    for e in events:
        lease = None
        if e.action == DISPATCHED:
            lease = next((c for c in (e.payload or {}).get("commands", []) if c.get("id") == command.pk), None)
            if lease is not None:
                epochs.add(lease.get("lease_epoch"))
        elif e.action == LEGACY_DISPATCHED:
            epochs.add((e.payload or {}).get("lease_epoch"))
        trail.lines.append(TrailLine(e, problems.get(e.pk, ""), lease))
    leases = range(1, command.lease_epoch + 1)
    trail.missing = [f"lease {n} (lease_epoch {n}) has no dispatch event" for n in leases if n not in epochs]
    return trail
