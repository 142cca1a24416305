"""Assessment, shared by creation and the dry run: which miners a command may go to, which it
skips and why, whether it needs approval, and its dedupe key."""

from dataclasses import dataclass

from django.conf import settings

from control.errors import DedupeConflict
from control.models import ACTIVE_STATES, LEASED_STATES, Command, PriorityClass
from control.services.consent import owner_consent_tenants
from control.services.params import HIGH_RISK_TYPES, POWER_IMPACT_TYPES, CommandSpec
from tenants.models import Miner

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
    owner_tenants: set[int]  # tenants whose policy asks for the owner's step on this command
    approval_reasons_own: list[str]  # approval_reasons but the owner's consent

    @property
    def approval_required(self) -> bool:
        return bool(self.approval_reasons)

    def needs_approval(self, miner: Miner) -> bool:
        """This miner's command waits: for its own reasons, or because its owner must consent (only
        the miners of tenants whose policy asks; the others of a batch or a rule pass go on)."""
        return bool(self.approval_reasons_own) or miner.tenant_id in self.owner_tenants


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


def dedupe_key_for(spec: CommandSpec, miner: Miner, is_batch: bool) -> str | None:
    if spec.dedupe_key is None:
        return None
    return f"{spec.dedupe_key}/{miner.pk}" if is_batch or spec.independent else spec.dedupe_key


def class_label(value: int) -> str:
    return PriorityClass(value).label


def _one_each(spec: CommandSpec, targets: list[Miner]) -> list[Miner]:
    """Independent commands are judged one miner at a time (the most power-hungry one stands for all)."""
    if not spec.independent or not targets:
        return targets
    return [max(targets, key=lambda m: m.nominal_power_w or 0)]


def assess(spec: CommandSpec, miners: list[Miner], *, is_batch: bool, lock: bool) -> Assessment:
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
        key = dedupe_key_for(spec, miner, is_batch)
        hit = next((c for c in mine if key is not None and c.dedupe_key == key), None)
        if hit is not None:
            if hit.command_type != spec.command_type:
                raise DedupeConflict(
                    f"dedupe_key {spec.dedupe_key!r} is in use by command #{hit.pk} of another type", command_id=hit.pk
                )
            existing.append(hit)
            continue
        leased = next((c for c in mine if c.state in LEASED_STATES), None)
        if leased is not None and not emergency:
            skipped.append(
                Skip(
                    miner,
                    "MINER_LOCKED",
                    f"command #{leased.pk} ({leased.command_type}, {class_label(leased.priority_class)}) is "
                    f"{leased.state} on this miner; only an emergency Safety command interrupts it",
                )
            )
            continue
        targets.append(miner)
    owners = owner_consent_tenants(spec.command_type, spec.priority_class, targets)
    own = approval_reasons(spec.command_type, _one_each(spec, targets), is_batch and not spec.independent) + (
        ["its creator asks for approval"] if spec.approval_required else []
    )
    return Assessment(
        spec=spec,
        targets=targets,
        skipped=skipped,
        existing=existing,
        active=active,
        estimated_kw=estimated_kw(spec.command_type, targets),
        approval_reasons=own + (["the miner's owner must consent (tenant policy)"] if owners else []),
        owner_tenants=owners,
        approval_reasons_own=own,
    )
