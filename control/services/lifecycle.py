"""The operator side of the command queue (SPEC §6): create (one miner or a batch), approve, reject,
cancel, roll back. The edge side (poll, lease, ACK, verification) lives in control.services.queue.

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
  with blocked_reason "blocked by #123 (Safety)"; the poll (control.services.queue) does not hand it
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
from control.models import ACTIVE_STATES, LEASED_STATES, Command, CommandAttempt, CommandState, CommandType, PriorityClass
from control.services.guardrails import RateTicket, blast_radius_check, rate_limit_take
from control.services.transitions import InvalidTransition, command_lock, command_transition
from hashinsight.errors import DomainError, Forbidden
from tenants.models import Miner
from tenants.scoping import Capability, miner_groups_for, miners_for

S = CommandState
T = CommandType

TYPE_ALIASES = {"reboot_device": T.REBOOT}
HIGH_RISK_TYPES = frozenset({T.REBOOT, T.DISABLE_HASHING, T.POWER_OFF, T.POWER_ON})
# Types that change a miner's draw; the estimate is the nominal power of each miner (an upper bound).
POWER_IMPACT_TYPES = frozenset({T.REBOOT, T.DISABLE_HASHING, T.ENABLE_HASHING, T.POWER_OFF, T.POWER_ON, T.SET_FREQUENCY})
REVERSIBLE_TYPES = frozenset({T.DISABLE_HASHING, T.ENABLE_HASHING, T.SET_FREQUENCY, T.SET_FAN, T.SET_POOL})
PDU_TYPES = frozenset({T.POWER_OFF, T.POWER_ON})
PENDING_STATES = frozenset({S.PROPOSED, S.APPROVED, S.QUEUED})
CANCELABLE_STATES = frozenset({S.PROPOSED, S.APPROVED, S.QUEUED, S.DISPATCHED})

# Frequency range (MHz) per model family: the longest matching prefix of Miner.model wins.
FREQUENCY_RANGES_MHZ: dict[str, tuple[int, int]] = {
    "S9": (100, 800),
    "S17": (200, 800),
    "S19": (200, 800),
    "S21": (200, 850),
    "T21": (200, 850),
    "M30": (200, 750),
    "M50": (200, 750),
    "M60": (200, 750),
}
DEFAULT_FREQUENCY_RANGE_MHZ = (100, 1000)
# The collector's addpool is "addpool|url,user,password", unescaped: these characters would split it.
_POOL_FORBIDDEN = (",", "|", "\n", "\r")
_PARAMS_BY_TYPE = {
    T.REBOOT: set(),
    T.DISABLE_HASHING: set(),
    T.ENABLE_HASHING: set(),
    T.SET_FREQUENCY: {"frequency"},
    T.SET_FAN: {"speed"},
    T.SET_POOL: {"pool_url", "pool_user", "pool_password", "pool_id"},
    T.POWER_OFF: set(),
    T.POWER_ON: set(),
}
COMMON_PARAMS = {"post_wait_sec"}  # the collector's wait before its "after" snapshot (capped at 10)


class InvalidParams(DomainError):
    status_code = 400
    error_code = "INVALID_PARAMS"

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}", field=field_name)


class UnsupportedBySite(DomainError):
    status_code = 422
    error_code = "UNSUPPORTED_BY_SITE"


class SelfApproval(Forbidden):
    error_code = "SELF_APPROVAL"


class MinerLocked(DomainError):
    status_code = 409
    error_code = "MINER_LOCKED"


class ApprovalExpired(DomainError):
    status_code = 409
    error_code = "APPROVAL_EXPIRED"


class RollbackUnavailable(DomainError):
    status_code = 409
    error_code = "ROLLBACK_UNAVAILABLE"


class DedupeConflict(DomainError):
    status_code = 409
    error_code = "DEDUPE_CONFLICT"


# --- validation ----------------------------------------------------------------------------------


def frequency_range(model: str) -> tuple[int, int]:
    best = max((p for p in FREQUENCY_RANGES_MHZ if (model or "").upper().startswith(p)), key=len, default=None)
    return FREQUENCY_RANGES_MHZ[best] if best else DEFAULT_FREQUENCY_RANGE_MHZ


def _int(params: dict, name: str, lo: int, hi: int) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParams(f"params.{name}", "an integer is required")
    if not lo <= value <= hi:
        raise InvalidParams(f"params.{name}", f"must be between {lo} and {hi}")
    return value


def _pool_text(params: dict, name: str, required: bool = True) -> str | None:
    value = params.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidParams(f"params.{name}", "a non-empty string is required")
    if any(ch in value for ch in _POOL_FORBIDDEN) or len(value) > 255:
        raise InvalidParams(f"params.{name}", "must not contain , | or line breaks (the edge does not escape them), at most 255 characters")
    return value.strip()


def command_type_normalize(command_type) -> str:
    name = TYPE_ALIASES.get(command_type, command_type)
    if name not in T.values:
        raise InvalidParams("command_type", f"unknown type {command_type!r}; one of {', '.join(T.values)} (alias reboot_device)")
    return name


def command_params_validate(command_type: str, params, miners: list[Miner]) -> dict:
    """Clean params for one type (SPEC §6.1), or INVALID_PARAMS naming the field."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidParams("params", "an object is required")
    unknown = set(params) - _PARAMS_BY_TYPE[command_type] - COMMON_PARAMS
    if unknown:
        raise InvalidParams(f"params.{sorted(unknown)[0]}", f"not a parameter of {command_type}")
    out = {}
    if "post_wait_sec" in params:
        out["post_wait_sec"] = _int(params, "post_wait_sec", 0, 10)
    if command_type == T.SET_FREQUENCY:
        lo, hi = DEFAULT_FREQUENCY_RANGE_MHZ
        for miner in miners:  # the narrowest range of the models involved
            m_lo, m_hi = frequency_range(miner.model)
            lo, hi = max(lo, m_lo), min(hi, m_hi)
        out["frequency"] = _int(params, "frequency", lo, hi)
    elif command_type == T.SET_FAN:
        out["speed"] = _int(params, "speed", 0, 100)
    elif command_type == T.SET_POOL:
        by_url = any(k in params for k in ("pool_url", "pool_user", "pool_password"))
        if by_url and "pool_id" in params:
            raise InvalidParams("params.pool_id", "give pool_url + pool_user, or pool_id, not both")
        if by_url:
            out["pool_url"] = _pool_text(params, "pool_url")
            if "://" not in out["pool_url"]:
                raise InvalidParams("params.pool_url", "a URL such as stratum+tcp://pool.example:3333 is required")
            out["pool_user"] = _pool_text(params, "pool_user")
            password = _pool_text(params, "pool_password", required=False)
            if password is not None:
                out["pool_password"] = password
        elif "pool_id" in params:
            out["pool_id"] = _int(params, "pool_id", 0, 9)
        else:
            raise InvalidParams("params.pool_url", "pool_url + pool_user, or pool_id, is required")
    return out


def redact(params: dict) -> dict:
    """Params as shown in audit events and API answers: a pool password never leaves the row."""
    return {k: ("***" if k == "pool_password" else v) for k, v in (params or {}).items()}


@dataclass(frozen=True)
class CommandSpec:
    """One validated request; every miner of a batch gets a command from it."""

    command_type: str
    params: dict
    priority_class: int
    priority: int
    reason: str
    ttl_sec: int
    emergency: bool
    dedupe_key: str | None
    evidence: dict
    created_by_system: str
    rule_id: int | None
    batch_id: uuid.UUID | None
    group_id: int | None
    rollback_of_id: int | None = None


def _spec(
    *,
    miners,
    command_type,
    params,
    priority_class,
    priority,
    reason,
    ttl_sec,
    emergency,
    dedupe_key,
    evidence,
    created_by_system,
    rule_id,
    batch_id,
    group,
    rollback_of=None,
) -> CommandSpec:
    command_type = command_type_normalize(command_type)
    if command_type in PDU_TYPES:
        raise UnsupportedBySite(
            f"{command_type} needs a PDU integration, which no site declares yet (the field collector has no PDU control)",
            field="command_type",
        )
    clean = command_params_validate(command_type, params, miners)
    if priority_class not in PriorityClass.values:
        raise InvalidParams("priority_class", f"one of {', '.join(str(v) for v in PriorityClass.values)}")
    if emergency and priority_class != PriorityClass.SAFETY:
        raise InvalidParams("emergency", "only a Safety command may be an emergency")
    if isinstance(priority, bool) or not isinstance(priority, int) or not -1000 <= priority <= 1000:
        raise InvalidParams("priority", "an integer between -1000 and 1000 is required")
    ttl_sec = settings.COMMAND_DEFAULT_TTL_SEC if ttl_sec is None else ttl_sec
    if isinstance(ttl_sec, bool) or not isinstance(ttl_sec, int) or not 10 <= ttl_sec <= settings.COMMAND_MAX_TTL_SEC:
        raise InvalidParams("ttl_sec", f"between 10 and {settings.COMMAND_MAX_TTL_SEC} seconds")
    if dedupe_key is not None and (not isinstance(dedupe_key, str) or not dedupe_key or len(dedupe_key) > 160):
        raise InvalidParams("dedupe_key", "a string of 1 to 160 characters")
    if evidence is not None and not isinstance(evidence, dict):
        raise InvalidParams("evidence", "an object is required")
    return CommandSpec(
        command_type=command_type,
        params=clean,
        priority_class=int(priority_class),
        priority=priority,
        reason=reason or "",
        ttl_sec=ttl_sec,
        emergency=bool(emergency),
        dedupe_key=dedupe_key,
        evidence=dict(evidence or {}),
        created_by_system=created_by_system or "",
        rule_id=rule_id,
        batch_id=batch_id,
        group_id=group.pk if group is not None else None,
        rollback_of_id=rollback_of.pk if rollback_of is not None else None,
    )


def _require(user, capability: str, miners: list[Miner]) -> None:
    """FORBIDDEN unless the user holds `capability` on every miner; user=None is the system."""
    if user is None:
        return
    ids = {m.pk for m in miners}
    allowed = set(miners_for(user, capability).filter(pk__in=ids).values_list("pk", flat=True))
    if allowed != ids:
        raise Forbidden("not allowed on this miner" if len(ids) == 1 else "not allowed on every miner of this batch")


def _reason_required(reason: str, what: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidParams("reason", f"a reason is required to {what}")
    return reason.strip()


# --- assessment (shared by creation and the dry run) -----------------------------------------------


@dataclass
class Skip:
    miner: Miner
    error_code: str
    reason: str


@dataclass
class Assessment:
    spec: CommandSpec
    targets: list[Miner]
    skipped: list[Skip]
    existing: list[Command]  # dedupe hits: returned, not created again
    active: dict[int, list[Command]]  # miner pk -> its active commands
    estimated_kw: float
    approval_reasons: list[str]

    @property
    def approval_required(self) -> bool:
        return bool(self.approval_reasons)

    @property
    def initial_state(self) -> str:
        return S.PROPOSED if self.approval_required else S.QUEUED


def estimated_kw(command_type: str, miners: list[Miner]) -> float:
    if command_type not in POWER_IMPACT_TYPES:
        return 0.0
    return round(sum((m.nominal_power_w or 0) for m in miners) / 1000, 3)


def approval_reasons(command_type: str, miners: list[Miner], is_batch: bool) -> list[str]:
    reasons = []
    if command_type in HIGH_RISK_TYPES:
        reasons.append(f"{command_type} is high-risk")
    if is_batch and len(miners) > settings.COMMAND_APPROVAL_BATCH_MINERS:
        reasons.append(f"batch of {len(miners)} miners (over {settings.COMMAND_APPROVAL_BATCH_MINERS})")
    kw = estimated_kw(command_type, miners)
    if kw > settings.COMMAND_APPROVAL_KW:
        reasons.append(f"estimated power impact {kw:g} kW (over {settings.COMMAND_APPROVAL_KW:g} kW)")
    return reasons


def _dedupe_key_for(spec: CommandSpec, miner: Miner, is_batch: bool) -> str | None:
    if spec.dedupe_key is None:
        return None
    return f"{spec.dedupe_key}/{miner.pk}" if is_batch else spec.dedupe_key


def _class_label(value: int) -> str:
    return PriorityClass(value).label


def _assess(spec: CommandSpec, miners: list[Miner], *, is_batch: bool, lock: bool) -> Assessment:
    active_qs = Command.objects.filter(miner__in=[m.pk for m in miners], state__in=ACTIVE_STATES).select_related("site")
    if lock:
        # Lock the miners' active commands in pk order: arbitration decides on rows nobody else moves.
        active_qs = active_qs.select_for_update(of=("self",)).order_by("pk")
    active: dict[int, list[Command]] = {}
    for c in active_qs:
        active.setdefault(c.miner_id, []).append(c)
    targets, skipped, existing = [], [], []
    emergency = spec.emergency and spec.priority_class == PriorityClass.SAFETY
    for miner in miners:
        mine = active.get(miner.pk, [])
        key = _dedupe_key_for(spec, miner, is_batch)
        hit = next((c for c in mine if key is not None and c.dedupe_key == key), None)
        if hit is not None:
            if hit.command_type != spec.command_type:
                raise DedupeConflict(f"dedupe_key {spec.dedupe_key!r} is in use by command #{hit.pk} of another type", command_id=hit.pk)
            existing.append(hit)
            continue
        leased = next((c for c in mine if c.state in LEASED_STATES), None)
        if leased is not None and not emergency:
            skipped.append(
                Skip(
                    miner,
                    "MINER_LOCKED",
                    f"command #{leased.pk} ({leased.command_type}, {_class_label(leased.priority_class)}) is {leased.state} on this miner; "
                    "only an emergency Safety command interrupts it",
                )
            )
            continue
        targets.append(miner)
    return Assessment(
        spec=spec,
        targets=targets,
        skipped=skipped,
        existing=existing,
        active=active,
        estimated_kw=estimated_kw(spec.command_type, targets),
        approval_reasons=approval_reasons(spec.command_type, targets, is_batch),
    )


# --- creation --------------------------------------------------------------------------------------


def _before_telemetry(command_type: str, miners: list[Miner]) -> dict[int, dict]:
    """What a set_* command is about to change, from the live tier: rollback's fallback source."""
    if command_type not in (T.SET_FREQUENCY, T.SET_POOL) or not miners:
        return {}
    from telemetry.models import TelemetryLive

    rows = TelemetryLive.objects.filter(miner__in=[m.pk for m in miners]).values("miner_id", "ts", "frequency_avg", "pool_url", "worker_name")
    return {r["miner_id"]: {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items() if k != "miner_id"} for r in rows}


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
    label = _class_label(new.priority_class)
    for old in active:
        if old.state in PENDING_STATES and old.priority_class < new.priority_class:
            command_transition(
                old,
                to=S.SUPERSEDED,
                actor=actor,
                reason=f"superseded by #{new.pk} ({label})",
                superseded_by=new,
                audit_details={"decision": "superseded_by_higher_class", "by": new.pk, "by_class": new.priority_class, "class": old.priority_class},
            )
        elif old.state in LEASED_STATES and new.emergency:
            details = {"decision": "preempted_by_emergency", "by": new.pk, "edge_may_still_execute": True}
            if old.state == S.DISPATCHED:
                command_transition(old, to=S.CANCELED, actor=actor, reason=f"preempted by emergency #{new.pk}", audit_details=details)
            else:  # running → canceled is not a transition; the interrupted command ends failed
                transaction.on_commit(lambda t=old.command_type: metrics.commands_failed_total.labels(t, "PREEMPTED_BY_EMERGENCY").inc())
                command_transition(
                    old,
                    to=S.FAILED,
                    actor=actor,
                    reason=f"preempted by emergency #{new.pk}",
                    error_code="PREEMPTED_BY_EMERGENCY",
                    error_message=f"interrupted by emergency Safety command #{new.pk}",
                    audit_details=details,
                )
            CommandAttempt.objects.filter(command=old, lease_ended_at__isnull=True).update(lease_ended_at=now, lease_end_reason="canceled")


def _blocked_reason(new_class: int, active: list[Command]) -> str:
    higher = [c for c in active if c.state in PENDING_STATES and c.priority_class > new_class]
    if not higher:
        return ""
    top = min(higher, key=lambda c: (-c.priority_class, c.pk))
    return f"blocked by #{top.pk} ({_class_label(top.priority_class)})"


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
    miners = list(Miner.objects.select_for_update(of=("self",)).select_related("site", "zone").filter(pk__in=[m.pk for m in miners]).order_by("pk"))
    a = _assess(spec, miners, is_batch=is_batch, lock=True)
    result = CreateResult(spec.batch_id, existing=a.existing, skipped=a.skipped, approval_reasons=a.approval_reasons, estimated_kw=a.estimated_kw)
    if not a.targets:
        return result
    by_site: dict[int, list[Miner]] = {}
    for m in a.targets:
        by_site.setdefault(m.site_id, []).append(m)
    tickets: list[RateTicket] = []
    try:
        for site_miners in by_site.values():
            blast_radius_check(site=site_miners[0].site, command_type=spec.command_type, miner_ids=[m.pk for m in site_miners])
        for site_miners in by_site.values():
            tickets.append(rate_limit_take(site_code=site_miners[0].site.code, command_type=spec.command_type, n=len(site_miners)))
        result.created = _insert(actor=actor, user=user, a=a, is_batch=is_batch)
    except BaseException:
        for ticket in tickets:  # the creation failed: give the window its slots back
            ticket.release()
        raise
    counts: dict[str, int] = {}
    for c in result.created:
        counts[c.command_type] = counts.get(c.command_type, 0) + 1
    transaction.on_commit(lambda: [metrics.commands_created_total.labels(t).inc(n) for t, n in counts.items()])
    return result


def _insert(*, actor: Actor, user, a: Assessment, is_batch: bool) -> list[Command]:
    spec, now = a.spec, timezone.now()
    state = a.initial_state
    approval_expires = now + dt.timedelta(seconds=settings.COMMAND_APPROVAL_TTL_SEC) if a.approval_required else None
    before = _before_telemetry(spec.command_type, a.targets)
    rows = []
    for m in a.targets:
        evidence = dict(spec.evidence)
        if m.pk in before:
            evidence["before_telemetry"] = before[m.pk]
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
                state=state,
                reason=spec.reason,
                evidence=evidence,
                dedupe_key=_dedupe_key_for(spec, m, is_batch),
                created_at=now,
                updated_at=now,
                ttl_sec=spec.ttl_sec,
                # A proposal lives until its approval lapses; the TTL starts again when it is approved.
                expires_at=approval_expires or now + dt.timedelta(seconds=spec.ttl_sec),
                created_by=user,
                created_by_system=spec.created_by_system,
                rule_id=spec.rule_id,
                approval_required=a.approval_required,
                approval_expires_at=approval_expires,
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
) -> Command:
    """Create one command (queued, or proposed when it needs approval).

    Idempotent by dedupe_key: while a command with the key is active, the same request returns it
    (`command.deduplicated` is True) instead of creating another; the key on a different type is
    DEDUPE_CONFLICT. `user` is the person whose scope is checked (None: the system — rule engine,
    curtailment)."""
    _require(user, Capability.OPERATE, [miner])  # before validation: nothing about a foreign miner shows
    spec = _spec(
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
    *, user, miners: list[Miner] | None = None, group=None, command_type: str, params: dict | None = None,
    priority_class: int = PriorityClass.CONVENIENCE, priority: int = 0, emergency: bool = False, ttl_sec: int | None = None,
    dedupe_key: str | None = None,
) -> BatchPreview:  # fmt: skip
    """Dry run of command_batch_create: which miners get a command, which are skipped and why, the
    estimated kW and whether approval is needed. Creates, locks and audits nothing. Guardrails are
    not taken here (a preview must not use up the rate limit); creation checks them."""
    found = _batch_miners(user, miners=miners, group=group)
    _require(user, Capability.OPERATE, found)
    spec = _spec(
        miners=found, command_type=command_type, params=params, priority_class=priority_class, priority=priority,
        reason="", ttl_sec=ttl_sec, emergency=emergency, dedupe_key=dedupe_key, evidence=None, created_by_system="",
        rule_id=None, batch_id=None, group=group,
    )  # fmt: skip
    a = _assess(spec, found, is_batch=True, lock=False)
    return BatchPreview(spec.command_type, redact(spec.params), a.targets, a.skipped, a.existing, a.estimated_kw, a.approval_reasons)


def command_batch_create(
    *, actor: Actor, user, miners: list[Miner] | None = None, group=None, command_type: str, params: dict | None = None,
    priority_class: int = PriorityClass.CONVENIENCE, priority: int = 0, reason: str = "", ttl_sec: int | None = None,
    emergency: bool = False, dedupe_key: str | None = None, evidence: dict | None = None, created_by_system: str = "",
    rule_id: int | None = None,
) -> CreateResult:  # fmt: skip
    """One command per miner of a group or list, linked by one batch_id, all `created` events in one
    audit append. Miners whose command cannot be created (MINER_LOCKED) are skipped and listed;
    guardrails apply to the whole batch (all or nothing). With a dedupe_key each miner's command is
    keyed `<key>/<miner pk>`, so replaying the request returns the same commands."""
    found = _batch_miners(user, miners=miners, group=group)
    _require(user, Capability.OPERATE, found)
    spec = _spec(
        miners=found, command_type=command_type, params=params, priority_class=priority_class, priority=priority,
        reason=reason, ttl_sec=ttl_sec, emergency=emergency, dedupe_key=dedupe_key, evidence=evidence,
        created_by_system=created_by_system, rule_id=rule_id, batch_id=uuid.uuid4(), group=group,
    )  # fmt: skip
    result = _create(actor=actor, user=user, miners=found, spec=spec, is_batch=True)
    if not result.created and result.existing:
        result.batch_id = result.existing[0].batch_id
    return result


# --- approval, rejection, cancel -------------------------------------------------------------------


def command_approve(*, actor: Actor, user, command: Command, reason: str) -> Command:
    """proposed → approved → queued (two audited transitions; the TTL starts now). The approver
    needs APPROVE on the miner and must not be the requester (SELF_APPROVAL). A proposal past its
    approval window expires instead (APPROVAL_EXPIRED) — that expiry is committed, hence the
    explicit atomic block rather than the decorator."""
    reason = _reason_required(reason, "approve")
    with transaction.atomic():
        command = command_lock(command.pk)
        _require(user, Capability.APPROVE, [command.miner])
        if command.state != S.PROPOSED:
            raise InvalidTransition(f"command {command.pk} is {command.state}, not proposed", command_id=command.pk, state=command.state)
        if user is None:
            raise Forbidden("approval needs a person")
        if command.created_by_id == user.pk:
            raise SelfApproval("the requester cannot approve their own command")
        now = timezone.now()
        if command.approval_expires_at is not None and command.approval_expires_at <= now:
            command_transition(command, to=S.EXPIRED, actor=actor, reason="approval window lapsed", error_code="APPROVAL_EXPIRED")
            expired = True
        else:
            command_transition(command, to=S.APPROVED, actor=actor, reason=reason, approved_by=user, approved_at=now, decided_reason=reason)
            command_transition(command, to=S.QUEUED, actor=actor, reason="approved", expires_at=now + dt.timedelta(seconds=command.ttl_sec))
            expired = False
    if expired:
        raise ApprovalExpired(f"command {command.pk}: approval window lapsed at {command.approval_expires_at:%Y-%m-%dT%H:%M:%SZ}", command_id=command.pk)
    return command


@transaction.atomic
def command_reject(*, actor: Actor, user, command: Command, reason: str) -> Command:
    """proposed → rejected, with the approver's reason (an approver's decision, not an edge refusal)."""
    reason = _reason_required(reason, "reject")
    command = command_lock(command.pk)
    _require(user, Capability.APPROVE, [command.miner])
    return command_transition(command, to=S.REJECTED, actor=actor, reason=reason, decided_reason=reason)


@transaction.atomic
def command_cancel(*, actor: Actor, user, command: Command, reason: str = "") -> Command:
    """proposed/approved/queued → canceled; a dispatched (leased) one only with a reason: the edge may
    already be executing it, the cloud stops waiting for it and records a late ACK as evidence."""
    command = command_lock(command.pk)
    _require(user, Capability.OPERATE, [command.miner])
    if command.state not in CANCELABLE_STATES:
        raise InvalidTransition(f"command {command.pk} is {command.state}; it can no longer be canceled", command_id=command.pk, state=command.state)
    details = {}
    if command.state in LEASED_STATES:
        reason = _reason_required(reason, "cancel a leased command")
        details = {"was_leased": True, "edge_may_still_execute": True, "lease_epoch": command.lease_epoch}
        CommandAttempt.objects.filter(command=command, lease_ended_at__isnull=True).update(lease_ended_at=timezone.now(), lease_end_reason="canceled")
    return command_transition(command, to=S.CANCELED, actor=actor, reason=reason or "canceled", audit_details=details)


def command_proposals_expire(*, actor: Actor | None = None, now=None, limit: int = 1000) -> int:
    """Expire proposals whose approval window lapsed (a beat job calls this). Safe to run twice and
    beside other workers: rows are claimed with SKIP LOCKED."""
    actor = actor or Actor.system("control.proposals_expire")
    now = now or timezone.now()
    n = 0
    with transaction.atomic():
        due = (
            Command.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("site")
            .filter(state=S.PROPOSED, approval_expires_at__lte=now)
            .order_by("pk")[:limit]
        )
        for command in due:
            command_transition(command, to=S.EXPIRED, actor=actor, reason="approval window lapsed", error_code="APPROVAL_EXPIRED")
            n += 1
    return n


# --- rollback --------------------------------------------------------------------------------------


def _ack_before(command: Command) -> dict:
    if command.before_snapshot:
        return command.before_snapshot
    attempt = command.attempts.exclude(before__isnull=True).order_by("-attempt", "-lease_epoch").first()
    return (attempt.before if attempt else None) or {}


def _previous(command: Command, key: str):
    """The value a previous succeeded command of the same type set on this miner."""
    earlier = (
        Command.objects.filter(miner_id=command.miner_id, command_type=command.command_type, state=S.SUCCEEDED, created_at__lt=command.created_at)
        .order_by("-created_at")
        .values_list("params", flat=True)
    )
    return next((p[key] for p in earlier if key in p), None)


def rollback_plan(command: Command) -> tuple[str, dict, str]:
    """(type, params, source) of the command that undoes `command`, or ROLLBACK_UNAVAILABLE."""
    t = command.command_type
    if t not in REVERSIBLE_TYPES:
        raise RollbackUnavailable(f"{t} is not reversible")
    if t == T.DISABLE_HASHING:
        return T.ENABLE_HASHING, {}, "inverse"
    if t == T.ENABLE_HASHING:
        return T.DISABLE_HASHING, {}, "inverse"
    before, seen = _ack_before(command), (command.evidence or {}).get("before_telemetry") or {}
    if t == T.SET_FREQUENCY:
        if seen.get("frequency_avg"):
            return t, {"frequency": round(seen["frequency_avg"])}, "telemetry before the command"
        value = _previous(command, "frequency")
        if value is not None:
            return t, {"frequency": value}, "previous set_frequency"
        raise RollbackUnavailable("the frequency before this command is unknown (no telemetry, no earlier set_frequency)")
    if t == T.SET_FAN:
        # fan_speeds in snapshots are RPM, not the 0-100 setting: only an earlier set_fan tells it.
        value = _previous(command, "speed")
        if value is not None:
            return t, {"speed": value}, "previous set_fan"
        raise RollbackUnavailable("the fan setting before this command is unknown (no earlier set_fan)")
    # set_pool
    if "pool_id" in command.params:
        return t, {"pool_id": _previous(command, "pool_id") or 0}, "previous pool switch (or the first pool)"
    url, user = before.get("pool_url") or seen.get("pool_url"), before.get("worker_name") or seen.get("worker_name")
    if url and user:
        return t, {"pool_url": url, "pool_user": user}, "ACK before snapshot" if before.get("pool_url") else "telemetry before the command"
    raise RollbackUnavailable("the pool before this command is unknown")


@transaction.atomic
def command_rollback(*, actor: Actor, user, command: Command, reason: str, priority_class: int | None = None) -> Command:
    """Undo a succeeded reversible command with a linked command (rollback_of). The original goes to
    rolled_back at once, in the same transaction: a second rollback is refused, and the rollback
    command's own state tells whether the undo took effect. The rollback passes the same approval
    policy and guardrails as any command (rolling back enable_hashing is a disable: approval)."""
    reason = _reason_required(reason, "roll back")
    command = command_lock(command.pk)
    _require(user, Capability.OPERATE, [command.miner])
    if command.state != S.SUCCEEDED:
        raise InvalidTransition(f"command {command.pk} is {command.state}; only a succeeded command can be rolled back", command_id=command.pk, state=command.state)
    new_type, params, source = rollback_plan(command)
    new = command_create(
        actor=actor,
        user=user,
        miner=command.miner,
        command_type=new_type,
        params=params,
        priority_class=command.priority_class if priority_class is None else priority_class,
        reason=reason,
        evidence={"rollback_source": source},
        rollback_of=command,
    )
    command_transition(command, to=S.ROLLED_BACK, actor=actor, reason=reason, audit_details={"rollback": new.pk, "source": source})
    return new
