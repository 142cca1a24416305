"""Login lockout per account and per IP address, in the shared Redis cache (so every gunicorn
worker sees the same counters). A lock starts after LOGIN_LOCKOUT_FAILURES failed logins for one
account (LOGIN_LOCKOUT_IP_FAILURES from one address) within LOGIN_LOCKOUT_WINDOW_MIN, lasts
LOGIN_LOCKOUT_MINUTES, and ends by time or by an operator. Locks and unlocks are audit events;
one that ended by time is audited at the next attempt after it."""

import hashlib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache

from audit.services import Actor, audit_record

SYSTEM = Actor.system("tenants.lockout")
# How long the "was locked" marker outlives a lock, so its expiry is audited at the next attempt.
_MARKER_TTL_SEC = 7 * 86400


def _subject(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.strip().lower().encode()).hexdigest()}"


def _keys(kind: str, value: str) -> tuple[str, str, str]:
    s = _subject(kind, value)
    return f"login-fail:{s}", f"login-lock:{s}", f"login-locked:{s}"


def _limit(kind: str) -> int:
    return settings.LOGIN_LOCKOUT_FAILURES if kind == "account" else settings.LOGIN_LOCKOUT_IP_FAILURES


def _audit(action: str, *, kind: str, value: str, actor: Actor = SYSTEM, **payload) -> None:
    user = get_user_model().objects.filter(email__iexact=value).first() if kind == "account" else None
    audit_record(
        actor=actor,
        action=action,
        entity=user,
        entity_type="" if user else f"login.{kind}",
        entity_id="" if user else value,
        payload={kind: value.strip().lower(), **payload},
    )


def _subjects(email: str, ip: str) -> list[tuple[str, str]]:
    return [(kind, value) for kind, value in (("account", email), ("ip", ip)) if value and _limit(kind) > 0]


def login_locked(*, email: str, ip: str) -> bool:
    """True while the account or the address is locked. A lock found expired is audited here."""
    locked = False
    for kind, value in _subjects(email, ip):
        _fail, lock, marker = _keys(kind, value)
        if cache.get(lock) is not None:
            locked = True
        elif cache.delete(marker):  # one worker wins the delete: the expiry is audited once
            _audit("tenants.login.unlocked", kind=kind, value=value, reason="expired")
    return locked


def login_failure_record(*, email: str, ip: str) -> None:
    window = settings.LOGIN_LOCKOUT_WINDOW_MIN * 60
    for kind, value in _subjects(email, ip):
        fail, lock, marker = _keys(kind, value)
        cache.add(fail, 0, timeout=window)
        try:
            failures = cache.incr(fail)
        except ValueError:  # the window ended between add and incr
            cache.add(fail, 1, timeout=window)
            failures = 1
        # cache.add is atomic in Redis (SET NX): of two workers crossing the limit together, one locks and audits.
        if failures >= _limit(kind) and cache.add(lock, failures, timeout=settings.LOGIN_LOCKOUT_MINUTES * 60):
            cache.set(marker, 1, timeout=_MARKER_TTL_SEC)
            cache.delete(fail)
            _audit(
                "tenants.login.locked",
                kind=kind,
                value=value,
                failures=failures,
                minutes=settings.LOGIN_LOCKOUT_MINUTES,
            )


def login_success_record(*, email: str) -> None:
    if email:
        cache.delete(_keys("account", email)[0])


def login_unlock(*, actor: Actor, email: str = "", ip: str = "") -> bool:
    """Lift a lock before its time (an operator's action). Returns whether there was one."""
    unlocked = False
    for kind, value in (("account", email), ("ip", ip)):
        if not value:
            continue
        fail, lock, marker = _keys(kind, value)
        was_locked = cache.delete(lock)
        cache.delete_many([fail, marker])
        if was_locked:
            unlocked = True
            _audit("tenants.login.unlocked", kind=kind, value=value, actor=actor, reason="operator")
    return unlocked
