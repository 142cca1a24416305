"""Many independent commands of one kind in one call: the rule engine's proposals of a pass.

`command_create` one miner at a time costs a lock, an arbitration read, a guardrail round trip and
an audit append per command; a rule that catches 50 hot miners in one pass would pay that 50
times. `command_propose_each` creates the same commands — each with its own dedupe key and
evidence, each judged alone for approval, rate limit and blast radius, exactly as 50 calls of
`command_create` would — in one transaction: the miners locked together, one arbitration read, one
insert and one audit append per chain. Not a batch: no batch id, no batch-size approval."""

import dataclasses
from dataclasses import dataclass

from audit.services import Actor
from control.models import Command, PriorityClass
from control.services.creation import _create
from control.services.params import command_spec
from tenants.models import Miner


@dataclass
class Proposed:
    """What became of one miner's proposal: its command (new or the live one its dedupe key found),
    or the error code and message of why none was created (MINER_LOCKED, RATE_LIMITED, …)."""

    command: Command | None = None
    deduplicated: bool = False
    error: str = ""


def command_propose_each(
    *,
    actor: Actor,
    miners: list[Miner],
    evidence: dict[int, dict],
    command_type: str,
    params: dict | None,
    dedupe_key: str,
    reason: str,
    priority_class: int = PriorityClass.CONVENIENCE,
    created_by_system: str = "",
    rule_id: int | None = None,
    approval_required: bool = False,
) -> dict[int, Proposed]:
    """One command per miner (system-created: no user scope to check), keyed `<dedupe_key>/<miner pk>`,
    with `evidence[miner pk]` on top of the shared fields. Returns what became of each miner's."""
    if not miners:
        return {}
    spec = command_spec(
        miners=miners,
        command_type=command_type,
        params=params,
        priority_class=priority_class,
        priority=0,
        reason=reason,
        ttl_sec=None,
        emergency=False,
        dedupe_key=dedupe_key,
        evidence=None,
        created_by_system=created_by_system,
        rule_id=rule_id,
        batch_id=None,
        group=None,
        approval_required=approval_required,
    )
    spec = dataclasses.replace(spec, independent=True, evidence_by_miner=evidence)
    result = _create(actor=actor, user=None, miners=miners, spec=spec, is_batch=False)
    out: dict[int, Proposed] = {}
    for c in result.created:
        out[c.miner_id] = Proposed(c)
    for c in result.existing:
        out[c.miner_id] = Proposed(c, deduplicated=True)
    for skip in result.skipped:
        out[skip.miner.pk] = Proposed(error=f"{skip.error_code}: {skip.reason}")
    return out
