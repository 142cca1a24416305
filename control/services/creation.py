"""The operator side of the command queue (SPEC §6): create (one miner or a batch), approve, reject,
cancel, roll back — this module creates; control.services.decisions decides, control.services.rollback
undoes. The edge side (poll, lease, ACK, verification) lives in control.services.poll, .ack, .expiry and .verification.

Creation, in order: validate type and params (INVALID_PARAMS naming the field) → scope (OPERATE on
every miner, else FORBIDDEN) → lock the miners (by pk) → idempotency by dedupe_key → arbitration
against the miners' active commands → approval policy → guardrails (blast radius under a site
advisory lock, then the Redis rate limit) → insert → one audit append for all `created` events →
the arbitration transitions (each audited by command_transition).

Arbitration (Safety > Compliance/DR > Efficiency > Convenience):
- a new command supersedes the miner's *pending* (proposed/approved/queued) commands of a lower
  class (state superseded, superseded_by = the new one);
- a *leased* (dispatched/running) command is never interrupted, and a new command for that miner is
  refused with MINER_LOCKED — unless the new one is Safety with emergency=true: then a dispatched
  command is canceled and a running one fails with PREEMPTED_BY_EMERGENCY. The edge may already be
  executing it; the cloud only stops waiting for it (its late ACK is recorded as evidence);
- a command arriving while the miner has a pending command of a higher class waits behind it,
  with blocked_reason "blocked by #123 (Safety)"; the poll (control.services.poll) does not hand it
  out while the higher one is pending or leased.
"""

import datetime as dt
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import Actor, EventSpec, audit_record_many
from control import metrics
from control.errors import BlastRadiusExceeded, DedupeConflict, InvalidParams, MinerLocked, RateLimited
from control.models import LEASED_STATES, Command, CommandAttempt, PriorityClass
from control.services.guardrails import RateTicket, blast_radius_check, blast_radius_fit, rate_limit_take
from control.services.params import (
    PENDING_STATES,
    CommandSpec,
    S,
    T,
    command_spec,
    redact,
    require_capability,
)
from control.services.policy import (
    Assessment,
    Skip,
    assess,
    class_label,
    dedupe_key_for,
)
from control.services.transitions import command_transition
from core.errors import Forbidden
from tenants.models import Miner
from tenants.scoping import Capability, miner_groups_for

# --- creation --------------------------------------------------------------------------------------


def _before_telemetry(command_type: str, miners: list[Miner]) -> dict[int, dict]:
    """What a set_* command is about to change, from the live tier: rollback's fallback source."""
    if command_type not in (T.SET_FREQUENCY, T.SET_POOL) or not miners:
        return {}
    from telemetry.models import TelemetryLive

    rows = TelemetryLive.objects.filter(miner__in=[m.pk for m in miners]).values(
        "miner_id", "ts", "frequency_avg", "pool_url", "worker_name"
    )
    return {
        r["miner_id"]: {
            k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items() if k != "miner_id"
        }
        for r in rows
    }


def _created_event(c: Command, spec: CommandSpec, a: Assessment) -> EventSpec:
    payload = {
        "state": c.state,
        "command_type": c.command_type,
        "miner": c.miner_id,
        "params": redact(c.params),
        "priority_class": c.priority_class,
        "priority": c.priority,
        "emergency": c.emergency,
        "reason": c.reason,
        "ttl_sec": c.ttl_sec,
        "expires_at": c.expires_at,
        "approval_required": c.approval_required,
        "approval_reasons": a.approval_reasons,
        "owner_consent_required": c.owner_consent_required,
        "blocked_reason": c.blocked_reason,
        "dedupe_key": c.dedupe_key,
        "batch_id": str(c.batch_id) if c.batch_id else None,
        "group": c.group_id,
        "rollback_of": c.rollback_of_id,
        "rule_id": c.rule_id,
        "created_by_system": c.created_by_system,
    }
    return EventSpec("control.command.created", "control.command", str(c.pk), payload, c.tenant_id, c.site.code)


def _arbitrate(*, actor: Actor, new: Command, active: list[Command], now) -> None:
    """Supersede the lower pending commands; an emergency Safety command preempts a leased one."""
    label = class_label(new.priority_class)
    for old in active:
        if old.state in PENDING_STATES and old.priority_class < new.priority_class:
            command_transition(
                old,
                to=S.SUPERSEDED,
                actor=actor,
                reason=f"superseded by #{new.pk} ({label})",
                superseded_by=new,
                audit_details={
                    "decision": "superseded_by_higher_class",
                    "by": new.pk,
                    "by_class": new.priority_class,
                    "class": old.priority_class,
                },
            )
        elif old.state in LEASED_STATES and new.emergency:
            details = {"decision": "preempted_by_emergency", "by": new.pk, "edge_may_still_execute": True}
            if old.state == S.DISPATCHED:
                command_transition(
                    old, to=S.CANCELED, actor=actor, reason=f"preempted by emergency #{new.pk}", audit_details=details
                )
            else:  # running → canceled is not a transition; the interrupted command ends failed
                command_transition(
                    old,
                    to=S.FAILED,
                    actor=actor,
                    reason=f"preempted by emergency #{new.pk}",
                    error_code="PREEMPTED_BY_EMERGENCY",
                    error_message=f"interrupted by emergency Safety command #{new.pk}",
                    audit_details=details,
                )
            CommandAttempt.objects.filter(command=old, lease_ended_at__isnull=True).update(
                lease_ended_at=now, lease_end_reason="canceled"
            )


def _blocked_reason(new_class: int, active: list[Command]) -> str:
    higher = [c for c in active if c.state in PENDING_STATES and c.priority_class > new_class]
    if not higher:
        return ""
    top = min(higher, key=lambda c: (-c.priority_class, c.pk))
    return f"blocked by #{top.pk} ({class_label(top.priority_class)})"


@dataclass
class CreateResult:
    batch_id: uuid.UUID | None
    created: list[Command] = field(default_factory=list)
    existing: list[Command] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    approval_reasons: list[str] = field(default_factory=list)
    estimated_kw: float = 0.0


@transaction.atomic
def _create(*, actor: Actor, user, miners: list[Miner], spec: CommandSpec, is_batch: bool) -> CreateResult:
    # Lock the miners in pk order: creations for one miner serialize here, so arbitration and the
    # dedupe check see every earlier creation (two batches over the same miners cannot deadlock).
    miners = list(
        Miner.objects.select_for_update(of=("self",))
        .select_related("site", "zone")
        .filter(pk__in=[m.pk for m in miners])
        .order_by("pk")
    )
    a = assess(spec, miners, is_batch=is_batch, lock=True)
    result = CreateResult(
        spec.batch_id,
        existing=a.existing,
        skipped=a.skipped,
        approval_reasons=a.approval_reasons,
        estimated_kw=a.estimated_kw,
    )
    if not a.targets:
        return result
    by_site: dict[int, list[Miner]] = {}
    for m in a.targets:
        by_site.setdefault(m.site_id, []).append(m)
    tickets: list[RateTicket] = []
    try:
        if spec.independent:
            a.targets = _fit_one_by_one(spec, by_site, tickets, result.skipped)
        else:
            for site_miners in by_site.values():
                blast_radius_check(
                    site=site_miners[0].site, command_type=spec.command_type, miner_ids=[m.pk for m in site_miners]
                )
            for site_miners in by_site.values():
                tickets.append(
                    rate_limit_take(
                        site_code=site_miners[0].site.code, command_type=spec.command_type, n=len(site_miners)
                    )
                )
        result.created = _insert(actor=actor, user=user, a=a, is_batch=is_batch)
    except BaseException:
        for ticket in tickets:  # the creation failed: give the window its slots back
            ticket.release()
        raise
    counts: dict[str, int] = {}
    for c in result.created:
        counts[c.command_type] = counts.get(c.command_type, 0) + 1

    def count_created() -> None:
        for kind, n in counts.items():
            metrics.commands_created_total.labels(kind).inc(n)

    transaction.on_commit(count_created)
    return result


def _fit_one_by_one(
    spec: CommandSpec, by_site: dict[int, list[Miner]], tickets: list[RateTicket], skipped: list[Skip]
) -> list[Miner]:
    """Independent commands take the guardrails miner by miner, as many one-at-a-time creations would:
    those past the blast-radius cap or the rate limit are skipped with its error code, the rest go."""
    targets: list[Miner] = []
    for site_miners in by_site.values():
        site = site_miners[0].site
        fit, why = blast_radius_fit(site=site, command_type=spec.command_type, miner_ids=[m.pk for m in site_miners])
        fitting = set(fit)
        for m in site_miners:
            if m.pk not in fitting:
                skipped.append(Skip(m, BlastRadiusExceeded.error_code, why))
                continue
            try:
                tickets.append(rate_limit_take(site_code=site.code, command_type=spec.command_type))
            except RateLimited as exc:
                skipped.append(Skip(m, exc.error_code, exc.message))
                continue
            targets.append(m)
    return targets


def _insert(*, actor: Actor, user, a: Assessment, is_batch: bool) -> list[Command]:
    spec, now = a.spec, timezone.now()
    approval_expires = now + dt.timedelta(seconds=settings.COMMAND_APPROVAL_TTL_SEC)
    before = _before_telemetry(spec.command_type, a.targets)
    rows = []
    for m in a.targets:
        evidence = dict(spec.evidence) | (spec.evidence_by_miner or {}).get(m.pk, {})
        if m.pk in before:
            evidence["before_telemetry"] = before[m.pk]
        proposed = a.needs_approval(m)
        rows.append(
            Command(
                tenant_id=m.tenant_id,
                site=m.site,
                zone_id=m.zone_id,
                miner=m,
                command_type=spec.command_type,
                params=spec.params,
                priority_class=spec.priority_class,
                priority=spec.priority,
                emergency=spec.emergency,
                state=S.PROPOSED if proposed else S.QUEUED,
                reason=spec.reason,
                evidence=evidence,
                dedupe_key=dedupe_key_for(spec, m, is_batch),
                created_at=now,
                updated_at=now,
                ttl_sec=spec.ttl_sec,
                # A proposal lives until its approval lapses; the TTL starts again when it is approved.
                expires_at=approval_expires if proposed else now + dt.timedelta(seconds=spec.ttl_sec),
                created_by=user,
                created_by_system=spec.created_by_system,
                rule_id=spec.rule_id,
                approval_required=proposed,
                approval_expires_at=approval_expires if proposed else None,
                owner_consent_required=m.tenant_id in a.owner_tenants,
                blocked_reason=_blocked_reason(spec.priority_class, a.active.get(m.pk, [])),
                batch_id=spec.batch_id,
                group_id=spec.group_id,
                rollback_of_id=spec.rollback_of_id,
            )
        )
    try:
        with transaction.atomic():
            created = Command.objects.bulk_create(rows)
    except IntegrityError as exc:
        # Same dedupe key on another miner (one active command per key, enforced by the index).
        raise DedupeConflict(f"dedupe_key {spec.dedupe_key!r} is in use by another active command") from exc
    audit_record_many(actor=actor, events=[_created_event(c, spec, a) for c in created])
    for c in created:
        _arbitrate(actor=actor, new=c, active=a.active.get(c.miner_id, []), now=now)
    return created


def command_create(
    *,
    actor: Actor,
    user,
    miner: Miner,
    command_type: str,
    params: dict | None = None,
    priority_class: int = PriorityClass.CONVENIENCE,
    priority: int = 0,
    reason: str = "",
    ttl_sec: int | None = None,
    emergency: bool = False,
    dedupe_key: str | None = None,
    evidence: dict | None = None,
    created_by_system: str = "",
    rule_id: int | None = None,
    batch_id: uuid.UUID | None = None,
    group=None,
    rollback_of: Command | None = None,
    approval_required: bool = False,
) -> Command:
    """Create one command (queued, or proposed when it needs approval).

    Idempotent by dedupe_key: while a command with the key is active, the same request returns it
    (`command.deduplicated` is True) instead of creating another; the key on a different type is
    DEDUPE_CONFLICT. `user` is the person whose scope is checked (None: the system — rule engine,
    curtailment)."""
    require_capability(user, Capability.OPERATE, [miner])  # before validation: nothing about a foreign miner shows
    spec = command_spec(
        miners=[miner],
        command_type=command_type,
        params=params,
        priority_class=priority_class,
        priority=priority,
        reason=reason,
        ttl_sec=ttl_sec,
        emergency=emergency,
        dedupe_key=dedupe_key,
        evidence=evidence,
        created_by_system=created_by_system,
        rule_id=rule_id,
        batch_id=batch_id,
        group=group,
        rollback_of=rollback_of,
        approval_required=approval_required,
    )
    result = _create(actor=actor, user=user, miners=[miner], spec=spec, is_batch=False)
    if result.existing:
        command = result.existing[0]
        command.deduplicated = True
        return command
    if result.skipped:
        raise MinerLocked(result.skipped[0].reason)
    command = result.created[0]
    command.deduplicated = False
    return command


# --- batches ---------------------------------------------------------------------------------------


def _batch_miners(user, *, miners, group) -> list[Miner]:
    if (miners is None) == (group is None):
        raise InvalidParams("miners", "give a list of miners or a group")
    if group is not None:
        if user is not None and not miner_groups_for(user, Capability.OPERATE).filter(pk=group.pk).exists():
            raise Forbidden("not allowed on this group")
        found = list(group.miners.select_related("site", "zone").order_by("pk"))
    else:
        found = list({m.pk: m for m in miners}.values())
    if not found:
        raise InvalidParams("miners" if group is None else "group", "no miners to command")
    if len(found) > settings.COMMAND_BATCH_MAX_MINERS:
        raise InvalidParams("miners", f"at most {settings.COMMAND_BATCH_MAX_MINERS} miners per batch")
    return found


@dataclass
class BatchPreview:
    command_type: str
    params: dict
    miners: list[Miner]
    skipped: list[Skip]
    existing: list[Command]
    estimated_kw: float
    approval_reasons: list[str]

    @property
    def approval_required(self) -> bool:
        return bool(self.approval_reasons)

    @property
    def state(self) -> str:
        return S.PROPOSED if self.approval_required else S.QUEUED


def command_batch_preview(
    *,
    user,
    miners: list[Miner] | None = None,
    group=None,
    command_type: str,
    params: dict | None = None,
    priority_class: int = PriorityClass.CONVENIENCE,
    priority: int = 0,
    emergency: bool = False,
    ttl_sec: int | None = None,
    dedupe_key: str | None = None,
) -> BatchPreview:
    """Dry run of command_batch_create: which miners get a command, which are skipped and why, the
    estimated kW and whether approval is needed. Creates, locks and audits nothing. Guardrails are
    not taken here (a preview must not use up the rate limit); creation checks them."""
    found = _batch_miners(user, miners=miners, group=group)
    require_capability(user, Capability.OPERATE, found)
    spec = command_spec(
        miners=found,
        command_type=command_type,
        params=params,
        priority_class=priority_class,
        priority=priority,
        reason="",
        ttl_sec=ttl_sec,
        emergency=emergency,
        dedupe_key=dedupe_key,
        evidence=None,
        created_by_system="",
        rule_id=None,
        batch_id=None,
        group=group,
    )
    a = assess(spec, found, is_batch=True, lock=False)
    return BatchPreview(
        spec.command_type, redact(spec.params), a.targets, a.skipped, a.existing, a.estimated_kw, a.approval_reasons
    )


def command_batch_create(
    *,
    actor: Actor,
    user,
    miners: list[Miner] | None = None,
    group=None,
    command_type: str,
    params: dict | None = None,
    priority_class: int = PriorityClass.CONVENIENCE,
    priority: int = 0,
    reason: str = "",
    ttl_sec: int | None = None,
    emergency: bool = False,
    dedupe_key: str | None = None,
    evidence: dict | None = None,
    created_by_system: str = "",
    rule_id: int | None = None,
    batch_id: uuid.UUID | None = None,
) -> CreateResult:
    """One command per miner of a group or list, linked by one batch_id, all `created` events in one
    audit append. Miners whose command cannot be created (MINER_LOCKED) are skipped and listed;
    guardrails apply to the whole batch (all or nothing). With a dedupe_key each miner's command is
    keyed `<key>/<miner pk>`, so replaying the request returns the same commands. A caller that adds
    miners to a batch later (a curtailment's retried enables) passes its batch_id."""
    found = _batch_miners(user, miners=miners, group=group)
    require_capability(user, Capability.OPERATE, found)
    spec = command_spec(
        miners=found,
        command_type=command_type,
        params=params,
        priority_class=priority_class,
        priority=priority,
        reason=reason,
        ttl_sec=ttl_sec,
        emergency=emergency,
        dedupe_key=dedupe_key,
        evidence=evidence,
        created_by_system=created_by_system,
        rule_id=rule_id,
        batch_id=batch_id or uuid.uuid4(),
        group=group,
    )
    result = _create(actor=actor, user=user, miners=found, spec=spec, is_batch=True)
    if not result.created and result.existing:
        result.batch_id = result.existing[0].batch_id
    return result
