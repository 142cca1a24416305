"""Creating and editing rules. Every edit is a new version (RuleVersion keeps the whole definition)
and an audit event on the site's chain; validation names the field with INVALID_RULE."""

import math

from django.db import transaction

from audit.services import Actor, audit_record
from control.errors import InvalidParams, UnsupportedBySite
from control.models import PriorityClass
from control.services.params import command_params_validate, command_type_normalize
from core.errors import Forbidden
from rules.errors import InvalidRule
from rules.models import Metric, Op, Rule, RuleVersion, ThermalLevel
from tenants.models import Miner, MinerGroup, Zone
from tenants.scoping import Capability, can

# Fields a caller may set; everything else (version, timestamps) is the engine's.
EDITABLE = (
    "name",
    "enabled",
    "zone",
    "group",
    "tenant",
    "miners",
    "excluded_miners",
    "metric",
    "op",
    "threshold",
    "clear_threshold",
    "consecutive_samples",
    "min_duration_sec",
    "stale_sec",
    "cooldown_sec",
    "daily_cap",
    "command_type",
    "params",
    "recovery_command_type",
    "recovery_params",
    "priority_class",
    "approval_required",
)
_LIMITS = {
    "consecutive_samples": (1, 1000),
    "min_duration_sec": (0, 7 * 86400),
    "stale_sec": (30, 86400),
    "cooldown_sec": (0, 7 * 86400),
    "daily_cap": (1, 1000),
}


def rule_definition(rule: Rule) -> dict:
    """The rule as its version records it (ids for foreign keys)."""
    out = {}
    for name in EDITABLE:
        value = getattr(rule, f"{name}_id" if name in ("zone", "group", "tenant") else name)
        out[name] = list(value) if isinstance(value, list) else value
    return out


def _number(value, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRule(field, "a finite number is required")
    return float(value)


def _validate_action(rule: Rule, type_field: str, params_field: str, miners: list[Miner]) -> None:
    command_type = getattr(rule, type_field)
    if not command_type:
        setattr(rule, params_field, {})
        return
    try:
        name = command_type_normalize(command_type)
        setattr(rule, type_field, name)
        setattr(rule, params_field, command_params_validate(name, getattr(rule, params_field), miners))
    except (InvalidParams, UnsupportedBySite) as exc:
        field = exc.extra.get("field", "")
        where = type_field if field in ("", "command_type") else params_field + field.removeprefix("params")
        raise InvalidRule(where, exc.message.removeprefix(f"{field}: ")) from None


def rule_validate(rule: Rule) -> None:
    if not (rule.name or "").strip():
        raise InvalidRule("name", "a name is required")
    if rule.metric not in Metric.values:
        raise InvalidRule("metric", f"unknown metric {rule.metric!r}; one of {', '.join(Metric.values)}")
    if rule.op not in Op.values:
        raise InvalidRule("op", f"one of {', '.join(Op.values)}")
    if rule.thermal_level and rule.metric not in (Metric.TEMP_MAX, Metric.TEMP_AVG):
        raise InvalidRule("metric", "a thermal rule (legacy thermal config) watches temp_max or temp_avg")
    rule.threshold = _number(rule.threshold, "threshold")
    if rule.metric in (Metric.OFFLINE, Metric.NOT_HASHING) and rule.threshold not in (0.0, 1.0):
        raise InvalidRule("threshold", f"{rule.metric} is 0 or 1: use op gte with threshold 1")
    if rule.metric in (Metric.HASHRATE_PCT, Metric.REJECT_RATE) and not 0 <= rule.threshold <= 1000:
        raise InvalidRule("threshold", "a percentage between 0 and 1000")
    if rule.clear_threshold is not None:
        rule.clear_threshold = _number(rule.clear_threshold, "clear_threshold")
        rising = rule.op in (Op.GT, Op.GTE)
        if (rising and rule.clear_threshold > rule.threshold) or (not rising and rule.clear_threshold < rule.threshold):
            side = "at or below" if rising else "at or above"
            raise InvalidRule("clear_threshold", f"must be {side} the threshold {rule.threshold:g} (hysteresis)")
    for name, (lo, hi) in _LIMITS.items():
        value = getattr(rule, name)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise InvalidRule(name, f"an integer between {lo} and {hi}")
    if rule.priority_class not in PriorityClass.values:
        raise InvalidRule("priority_class", f"one of {', '.join(str(v) for v in PriorityClass.values)}")
    for name in ("miners", "excluded_miners"):
        ids = getattr(rule, name)
        if not isinstance(ids, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
            raise InvalidRule(name, "a list of miner ids is required")
    if rule.zone_id and not Zone.objects.filter(pk=rule.zone_id, site_id=rule.site_id).exists():
        raise InvalidRule("zone", "not a zone of the rule's site")
    if rule.group_id and not MinerGroup.objects.filter(pk=rule.group_id, site_id=rule.site_id).exists():
        raise InvalidRule("group", "not a group of the rule's site")
    listed = set(rule.miners)
    if listed and Miner.objects.filter(pk__in=listed, site_id=rule.site_id).count() != len(listed):
        raise InvalidRule("miners", "every miner must be a miner of the rule's site")
    if listed and not listed - set(rule.excluded_miners):
        raise InvalidRule("miners", "the scope is empty: every listed miner is excluded")
    sample = list(Miner.objects.filter(site_id=rule.site_id, pk__in=rule.miners)) if listed else []
    _validate_action(rule, "command_type", "params", sample)
    _validate_action(rule, "recovery_command_type", "recovery_params", sample)


def _require(user, rule: Rule) -> None:
    if user is not None and not can(user, Capability.OPERATE, rule.site):
        raise Forbidden("not allowed at this site")


def _record(rule: Rule, *, actor: Actor, user, action: str) -> None:
    definition = rule_definition(rule)
    RuleVersion.objects.create(rule=rule, version=rule.version, definition=definition, created_by=user)
    audit_record(
        actor=actor,
        action=action,
        entity=rule,
        payload={"version": rule.version, "definition": definition}
        | ({"thermal_level": rule.thermal_level} if rule.thermal_level else {}),
        site_code=rule.site.code,
    )


def rule_draft(*, user, site, thermal_level: str = "", **fields) -> Rule:
    """An unsaved rule of `site` from `fields`, checked as rule_create checks one (the caller's
    scope, then rule_validate): what rule_create saves and what a backtest of a draft replays."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise InvalidRule(sorted(unknown)[0], "not a field of a rule")
    if thermal_level not in ("", *ThermalLevel.values):
        raise InvalidRule("thermal_level", f"one of {', '.join(ThermalLevel.values)}")
    rule = Rule(site=site, created_by=user, thermal_level=thermal_level, **fields)
    _require(user, rule)
    rule_validate(rule)
    return rule


@transaction.atomic
def rule_create(*, actor: Actor, user, site, thermal_level: str = "", **fields) -> Rule:
    """A new rule at version 1. `thermal_level` marks one of the site's legacy thermal rules
    (rules.services.thermal); it is set here once and never edited."""
    rule = rule_draft(user=user, site=site, thermal_level=thermal_level, **fields)
    if Rule.objects.filter(site=site, name=rule.name).exists():
        raise InvalidRule("name", "a rule of this site already has this name")
    if thermal_level and Rule.objects.filter(site=site, thermal_level=thermal_level).exists():
        raise InvalidRule("thermal_level", "the site already has this thermal rule")
    rule.save()
    _record(rule, actor=actor, user=user, action="rules.rule.created")
    return rule


@transaction.atomic
def rule_update(*, actor: Actor, user, rule: Rule, **changes) -> Rule:
    """Apply changes as a new version; a change that changes nothing makes no version."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidRule(sorted(unknown)[0], "not a field of a rule")
    rule = Rule.objects.select_for_update().select_related("site").get(pk=rule.pk)
    _require(user, rule)
    before = rule_definition(rule)
    for name, value in changes.items():
        setattr(rule, name, value)
    rule_validate(rule)
    if rule_definition(rule) == before:
        return rule
    rule.version += 1
    rule.save()
    _record(rule, actor=actor, user=user, action="rules.rule.updated")
    return rule
