"""Configuration sanity as Django system checks (STYLE.md §10), ids hashinsight.E001…:
`manage.py check --deploy` lists every problem at once. E001 and E003 are found while the
settings read the environment (settings.CONFIG_ERRORS); the rest compare settings with each other.

E001 required variable missing · E002 AUDIT_RETENTION_DAYS not 90/365/2555 · E003 malformed
number · E004 a collector rate is not a DRF rate · E005 COMMAND_RATE_LIMITS malformed ·
E006 telemetry retention tiers out of order · E007 command TTL / poll limits inconsistent ·
E008 LOG_FORMAT unknown · E009 RULES_EVAL_INTERVAL_SEC outside 30–120 s · E010 COLLECTOR_KEY_KEK
missing or not a 32-byte key."""

from django.conf import settings
from django.core.checks import Error, register
from rest_framework.throttling import SimpleRateThrottle

AUDIT_RETENTION_CHOICES = (90, 365, 2555)
LOG_FORMATS = ("json", "console")


def _error(check_id: str, message: str, hint: str | None = None) -> Error:
    return Error(message, hint=hint, id=check_id)


def _collector_rates() -> list[Error]:
    out = []
    for name in ("COLLECTOR_UPLOAD_RATE", "COLLECTOR_POLL_RATE", "COLLECTOR_ACK_RATE"):
        value = getattr(settings, name)
        if not value:
            continue  # "" = off
        try:
            SimpleRateThrottle.parse_rate(SimpleRateThrottle, value)
        except (ValueError, KeyError, TypeError):
            out.append(
                _error("hashinsight.E004", f"{name}={value!r} is not a rate", 'like "120/min" (s, min, hour, day)')
            )
    return out


def _collector_key_kek() -> list[Error]:
    from core.sealing import key_from_text

    value = settings.COLLECTOR_KEY_KEK
    if not value:
        return [
            _error(
                "hashinsight.E010",
                "COLLECTOR_KEY_KEK is not set (DEBUG=False): collector payload keys cannot be stored",
                'a random 32-byte key: python -c "import secrets; print(secrets.token_hex(32))"',
            )
        ]
    try:
        key_from_text(value)
    except ValueError:
        return [_error("hashinsight.E010", "COLLECTOR_KEY_KEK is not a 32-byte key", "64 hex characters or base64url")]
    return []


def _command_rate_limits() -> list[Error]:
    from control.services.guardrails import parse_rate_limits

    try:
        limits = parse_rate_limits(settings.COMMAND_RATE_LIMITS)
    except ValueError:
        limits = None
    if limits is None or any(r.limit < 1 or r.window_sec < 1 for r in limits.values()):
        return [
            _error(
                "hashinsight.E005",
                f"COMMAND_RATE_LIMITS={settings.COMMAND_RATE_LIMITS!r} is malformed",
                'comma-separated "<command_type>=<count>/<seconds>", e.g. "reboot=50/300"',
            )
        ]
    return []


def _retention_order() -> list[Error]:
    tiers = [
        ("TELEMETRY_RAW_RETENTION_DAYS", settings.TELEMETRY_RAW_RETENTION_DAYS),
        ("TELEMETRY_1M_RETENTION_DAYS", settings.TELEMETRY_1M_RETENTION_DAYS),
        ("TELEMETRY_15M_RETENTION_DAYS", settings.TELEMETRY_15M_RETENTION_DAYS),
        ("TELEMETRY_DAILY_RETENTION_DAYS", settings.TELEMETRY_DAILY_RETENTION_DAYS),
    ]
    out = []
    for (lower, a), (higher, b) in zip(tiers, tiers[1:], strict=False):
        if a < 1 or a > b:
            out.append(
                _error(
                    "hashinsight.E006",
                    f"{lower}={a} must be at least 1 and at most {higher}={b}",
                    "a coarser tier is what remains when a finer one is dropped",
                )
            )
    return out


def _command_limits() -> list[Error]:
    out = []
    if not 10 <= settings.COMMAND_DEFAULT_TTL_SEC <= settings.COMMAND_MAX_TTL_SEC:
        out.append(
            _error(
                "hashinsight.E007",
                f"COMMAND_DEFAULT_TTL_SEC={settings.COMMAND_DEFAULT_TTL_SEC} must be between 10 and "
                f"COMMAND_MAX_TTL_SEC={settings.COMMAND_MAX_TTL_SEC}",
            )
        )
    if not 1 <= settings.COMMAND_POLL_LIMIT <= settings.COMMAND_POLL_MAX:
        out.append(
            _error(
                "hashinsight.E007",
                f"COMMAND_POLL_LIMIT={settings.COMMAND_POLL_LIMIT} must be between 1 and "
                f"COMMAND_POLL_MAX={settings.COMMAND_POLL_MAX}",
            )
        )
    return out


@register()
def configuration_check(app_configs=None, **kwargs) -> list[Error]:
    errors = [_error(check_id, message) for check_id, message in getattr(settings, "CONFIG_ERRORS", [])]
    if settings.AUDIT_RETENTION_DAYS not in AUDIT_RETENTION_CHOICES:
        errors.append(
            _error(
                "hashinsight.E002",
                f"AUDIT_RETENTION_DAYS={settings.AUDIT_RETENTION_DAYS} must be 90, 365 or 2555 (7 years)",
            )
        )
    if settings.LOG_FORMAT not in LOG_FORMATS:
        errors.append(_error("hashinsight.E008", f"LOG_FORMAT={settings.LOG_FORMAT!r} must be json or console"))
    if not 30 <= settings.RULES_EVAL_INTERVAL_SEC <= 120:
        errors.append(
            _error(
                "hashinsight.E009",
                f"RULES_EVAL_INTERVAL_SEC={settings.RULES_EVAL_INTERVAL_SEC} must be 30..120 (SPEC §7)",
            )
        )
    errors += _collector_key_kek()
    return errors + _collector_rates() + _command_rate_limits() + _retention_order() + _command_limits()
