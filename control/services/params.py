"""Command types and their parameters: validation (INVALID_PARAMS naming the field), redaction,
and the CommandSpec every creation path builds."""

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from control.errors import InvalidParams, UnsupportedBySite
from control.models import CommandState, CommandType, PriorityClass
from core.errors import Forbidden
from tenants.models import Miner
from tenants.scoping import miners_for

S = CommandState
T = CommandType

# Other names a creator may use: the original application's (enable / disable / restart) and
# reboot_device. Answers to the original's clients map back through poll.EDGE_ACTION.
TYPE_ALIASES = {
    "reboot_device": T.REBOOT,
    "restart": T.REBOOT,
    "enable": T.ENABLE_HASHING,
    "disable": T.DISABLE_HASHING,
}
HIGH_RISK_TYPES = frozenset({T.REBOOT, T.DISABLE_HASHING, T.POWER_OFF, T.POWER_ON})
# Types that change a miner's draw; the estimate is the nominal power of each miner (an upper bound).
POWER_IMPACT_TYPES = frozenset(
    {T.REBOOT, T.DISABLE_HASHING, T.ENABLE_HASHING, T.POWER_OFF, T.POWER_ON, T.SET_FREQUENCY}
)
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
_PARAMS_BY_TYPE: dict[str, set[str]] = {
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


# --- validation ----------------------------------------------------------------------------------


def param_names(command_type: str) -> set[str]:
    """The parameters a type takes (its own and the common ones)."""
    return _PARAMS_BY_TYPE[command_type] | COMMON_PARAMS


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
        raise InvalidParams(
            f"params.{name}",
            "must not contain , | or line breaks (the edge does not escape them), at most 255 characters",
        )
    return value.strip()


def command_type_normalize(command_type) -> str:
    name = TYPE_ALIASES.get(command_type, command_type)
    if name not in T.values:
        raise InvalidParams(
            "command_type",
            f"unknown type {command_type!r}; one of {', '.join(T.values)} (or {', '.join(TYPE_ALIASES)})",
        )
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
    out: dict[str, Any] = {}
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
    approval_required: bool = False  # the creator asks for approval (a rule's approval_required)
    # One command per miner, each standing alone (the rule engine's proposals of one pass): per-miner
    # dedupe keys and evidence, no batch id or batch-size approval, guardrails taken miner by miner.
    independent: bool = False
    evidence_by_miner: dict[int, dict] | None = None


def command_spec(
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
    approval_required=False,
) -> CommandSpec:
    command_type = command_type_normalize(command_type)
    if command_type in PDU_TYPES:
        raise UnsupportedBySite(
            f"{command_type} needs a PDU integration, which no site declares yet "
            "(the field collector has no PDU control)",
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
        approval_required=bool(approval_required),
    )


def require_capability(user, capability: str, miners: list[Miner]) -> None:
    """FORBIDDEN unless the user holds `capability` on every miner; user=None is the system."""
    if user is None:
        return
    ids = {m.pk for m in miners}
    allowed = set(miners_for(user, capability).filter(pk__in=ids).values_list("pk", flat=True))
    if allowed != ids:
        raise Forbidden("not allowed on this miner" if len(ids) == 1 else "not allowed on every miner of this batch")


def reason_required(reason: str, what: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidParams("reason", f"a reason is required to {what}")
    return reason.strip()
