"""The legacy thermal config (SPEC §7, §11): a site's "thermal rule set" is three rules marked with
`thermal_level`, kept through rules.services.definitions (versions and audit like any edit).

    warning_temp   → "thermal: warning"  temp_max ≥ warning_temp, alert only (off when notify_on_warning is false)
    throttle_temp  → "thermal: throttle" temp_max ≥ throttle_temp: set_frequency base × throttle %,
                     clear at recovery_temp with set_frequency back to the base
    critical_temp  → "thermal: critical" temp_max ≥ critical_temp: disable_hashing, with approval,
                     clear at recovery_temp (hashing is turned back on by a person)
    cooldown_minutes → cooldown_sec of the three; is_enabled → enabled of the three.

The config is read back from those rules, so an operator's edit of a thermal rule through the v1
API shows here; fields with no place in a rule (config_name, min_frequency_percent beyond the
validation, notify_on_throttle/critical, notification_email) are accepted and not kept.
"""

import math

from django.conf import settings
from django.db import transaction

from audit.services import Actor
from control.models import CommandType, PriorityClass
from rules.errors import InvalidThermalConfig
from rules.models import Metric, Op, Rule, ThermalLevel
from rules.services.definitions import rule_create, rule_update
from rules.services.evaluation import rules_evaluate
from tenants.models import Miner, Site

L = ThermalLevel
DEFAULTS = {  # the original application's default config
    "config_name": "thermal protection",
    "warning_temp": 70.0,
    "throttle_temp": 80.0,
    "critical_temp": 90.0,
    "recovery_temp": 65.0,
    "throttle_frequency_percent": 80,
    "min_frequency_percent": 50,
    "cooldown_minutes": 10,
    "is_enabled": True,
    "notify_on_warning": True,
    "notify_on_throttle": True,
    "notify_on_critical": True,
    "notification_email": None,
}
TEMPS = ("warning_temp", "throttle_temp", "critical_temp", "recovery_temp")
INTS = {"throttle_frequency_percent": (1, 100), "min_frequency_percent": (1, 100), "cooldown_minutes": (0, 10080)}
BOOLS = ("is_enabled", "notify_on_warning", "notify_on_throttle", "notify_on_critical")
NAMES: dict[str, str] = {level: f"thermal: {level}" for level in L.values}


def thermal_rules(site: Site) -> dict[str, Rule]:
    """The site's thermal rules by level (enabled or not)."""
    return {r.thermal_level: r for r in Rule.objects.filter(site=site).exclude(thermal_level="")}


def _base() -> int:
    return settings.THERMAL_BASE_FREQUENCY_MHZ


def thermal_config(site: Site, rules: dict[str, Rule] | None = None) -> dict:
    """The original's config fields, derived from the site's thermal rules (defaults for a level
    that has none yet); `id` is the site's id: a site has one thermal config."""
    rules = thermal_rules(site) if rules is None else rules
    warning, throttle, critical = rules.get(L.WARNING), rules.get(L.THROTTLE), rules.get(L.CRITICAL)
    config = dict(DEFAULTS)
    if warning is not None:
        config["warning_temp"] = warning.threshold
        config["notify_on_warning"] = warning.enabled
    if throttle is not None:
        config["throttle_temp"] = throttle.threshold
        config["recovery_temp"] = throttle.threshold if throttle.clear_threshold is None else throttle.clear_threshold
        config["cooldown_minutes"] = throttle.cooldown_sec // 60
        frequency = throttle.params.get("frequency") if throttle.command_type == CommandType.SET_FREQUENCY else None
        config["throttle_frequency_percent"] = round(100 * frequency / _base()) if frequency else None
    if critical is not None:
        config["critical_temp"] = critical.threshold
    first = throttle or critical or warning
    acting = [r for r in (throttle, critical) if r is not None]
    config["is_enabled"] = any(r.enabled for r in acting) if acting else False
    config |= {
        "id": site.pk,
        "site_id": site.pk,
        "site_code": site.code,
        "configured": len(rules) == len(L.values),
        "metric": first.metric if first is not None else Metric.TEMP_MAX,
        "base_frequency_mhz": _base(),
        "rules": [
            {"level": level, "rule_id": r.pk, "name": r.name, "version": r.version, "enabled": r.enabled}
            for level, r in sorted(rules.items(), key=lambda kv: L.values.index(kv[0]))
        ],
        "updated_at": max((r.updated_at for r in rules.values()), default=None),
    }
    return config


def _number(data: dict, name: str) -> float:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidThermalConfig(name, "a number (°C) is required")
    if not 0 < value <= 150:
        raise InvalidThermalConfig(name, "between 0 and 150 °C")
    return float(value)


def config_validate(current: dict, changes: dict) -> dict:
    """`current` with `changes` applied (the original's fields only; others are ignored), or
    400 INVALID_THERMAL_CONFIG naming the field."""
    if not isinstance(changes, dict):
        raise InvalidThermalConfig("body", "a JSON object is required")
    c = {k: current[k] for k in DEFAULTS} | {k: v for k, v in changes.items() if k in DEFAULTS}
    for name in TEMPS:
        c[name] = _number(c, name)
    for name, (lo, hi) in INTS.items():
        value = c[name]
        if name == "throttle_frequency_percent" and value is None and "throttle_frequency_percent" not in changes:
            raise InvalidThermalConfig(name, "the throttle rule no longer sets a frequency: give a percentage")
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise InvalidThermalConfig(name, f"an integer between {lo} and {hi}")
    for name in BOOLS:
        if not isinstance(c[name], bool):
            raise InvalidThermalConfig(name, "true or false")
    if c["config_name"] is not None and not isinstance(c["config_name"], str):
        raise InvalidThermalConfig("config_name", "a string")
    if c["notification_email"] is not None and not isinstance(c["notification_email"], str):
        raise InvalidThermalConfig("notification_email", "a string")
    if not c["warning_temp"] < c["throttle_temp"]:
        raise InvalidThermalConfig("warning_temp", "must be below throttle_temp")
    if not c["throttle_temp"] < c["critical_temp"]:
        raise InvalidThermalConfig("throttle_temp", "must be below critical_temp")
    if not c["recovery_temp"] < c["throttle_temp"]:
        raise InvalidThermalConfig("recovery_temp", "must be below throttle_temp (hysteresis)")
    if c["throttle_frequency_percent"] < c["min_frequency_percent"]:
        raise InvalidThermalConfig("throttle_frequency_percent", "must not be below min_frequency_percent")
    frequency = round(_base() * c["throttle_frequency_percent"] / 100)
    if frequency < 100:
        raise InvalidThermalConfig("throttle_frequency_percent", f"{frequency} MHz is below the 100 MHz floor")
    return c


def _specs(c: dict) -> dict[str, dict]:
    """The mapped fields of each thermal rule (what a PUT sets; the rest stays as an operator left it)."""
    cooldown = c["cooldown_minutes"] * 60
    return {
        L.WARNING: {
            "threshold": c["warning_temp"],
            "clear_threshold": min(c["recovery_temp"], c["warning_temp"]),
            "cooldown_sec": cooldown,
            "enabled": c["is_enabled"] and c["notify_on_warning"],
            "command_type": "",
            "params": {},
            "recovery_command_type": "",
            "recovery_params": {},
        },
        L.THROTTLE: {
            "threshold": c["throttle_temp"],
            "clear_threshold": c["recovery_temp"],
            "cooldown_sec": cooldown,
            "enabled": c["is_enabled"],
            "command_type": CommandType.SET_FREQUENCY.value,
            "params": {"frequency": round(_base() * c["throttle_frequency_percent"] / 100)},
            "recovery_command_type": CommandType.SET_FREQUENCY.value,
            "recovery_params": {"frequency": _base()},
        },
        L.CRITICAL: {
            "threshold": c["critical_temp"],
            "clear_threshold": c["recovery_temp"],
            "cooldown_sec": cooldown,
            "enabled": c["is_enabled"],
            "command_type": CommandType.DISABLE_HASHING.value,
            "params": {},
            "recovery_command_type": "",
            "recovery_params": {},
        },
    }


_CREATE_ONLY: dict[str, dict] = {
    L.WARNING: {"priority_class": PriorityClass.EFFICIENCY.value},
    L.THROTTLE: {"priority_class": PriorityClass.SAFETY.value},
    L.CRITICAL: {"priority_class": PriorityClass.SAFETY.value, "approval_required": True},
}


@transaction.atomic
def thermal_config_apply(*, actor: Actor, user, site: Site, changes: dict) -> tuple[dict, list[str]]:
    """Apply a (partial) config: each thermal rule created or updated through the rule services
    (a change that changes nothing makes no version). The new config and the levels written."""
    # Two PUTs at once would both create the same thermal rule (the second failing on the unique
    # constraint): the site row serializes them.
    Site.objects.select_for_update().filter(pk=site.pk).first()
    rules = thermal_rules(site)
    c = config_validate(thermal_config(site, rules), changes)
    written = []
    for level, fields in _specs(c).items():
        rule = rules.get(level)
        if rule is None:
            rule = rule_create(
                actor=actor,
                user=user,
                site=site,
                thermal_level=level,
                name=NAMES[level],
                metric=Metric.TEMP_MAX,
                op=Op.GTE,
                **fields,
                **_CREATE_ONLY[level],
            )
            written.append(level)
        else:
            before = rule.version
            rule = rule_update(actor=actor, user=user, rule=rule, **fields)
            if rule.version != before:
                written.append(level)
        rules[level] = rule
    return thermal_config(site, rules), written


# --- one pass now ----------------------------------------------------------------------------------


def event_type(level: str, kind: str) -> str:
    """The original's event_type of a hit: warning / throttle / critical (a thermal trigger),
    recovery, or the engine's own kind (suppressed, capped; trigger for a non-thermal rule)."""
    if kind == "trigger" and level:
        return level
    return kind


def thermal_check(*, site: Site, now=None) -> dict:
    """One evaluation pass of every enabled rule of the site (SPEC §7: "one evaluation pass for a
    site now"), in the original's `results` shape, with each hit listed."""
    report = rules_evaluate(site=site, now=now)
    hits, errors = [], []
    counts = dict.fromkeys(("warning", "throttle", "critical", "recovery"), 0)
    for d in report.decisions:
        kind = event_type(d.rule.thermal_level, d.kind)
        if d.rule.thermal_level and kind in counts:
            counts[kind] += 1
        hits.append(
            {
                "miner_id": d.miner_id,
                "rule_id": d.rule.pk,
                "rule": d.rule.name,
                "version": d.rule.version,
                "thermal_level": d.rule.thermal_level or None,
                "event_type": kind,
                "kind": d.kind,
                "value": d.value,
                "threshold": d.rule.threshold,
                "command_type": d.command_type or None,
                "command_id": d.command_id,
                "alert_id": d.alert_id,
                "error": d.error or None,
            }
        )
        if d.error:
            errors.append({"miner_id": d.miner_id, "rule_id": d.rule.pk, "error": d.error})
    return {
        "checked": Miner.objects.filter(site=site).count(),
        "rules": report.rules,
        "actions": sum(1 for d in report.decisions if d.kind in ("trigger", "recovery")),
        "warnings": counts["warning"],
        "throttles": counts["throttle"],
        "criticals": counts["critical"],
        "recoveries": counts["recovery"],
        "stale": report.stale,
        "errors": errors,
        "hits": hits,
        "seconds": round(report.seconds, 3),
    }
