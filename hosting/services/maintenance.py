"""Planned maintenance windows (SPEC §9): create, cancel, expire — audited, validated with error codes.

A window is one-off (starts_at..ends_at) or weekly (`weekdays` at `start_time` for
`duration_minutes` in `timezone`, from starts_at until `expires_at`); scoped to a site, a zone of it
or one miner. Windows cannot start in the past: the downtime pass has already judged those minutes,
and declaring them planned afterwards would rewrite recorded downtime (a billing dispute's
favourite move). The downtime pass and the rule engine read windows through
hosting.selectors.maintenance."""

import datetime as dt
import zoneinfo

from django.db import transaction
from django.utils import timezone

from audit.services import Actor
from control.errors import InvalidTransition
from core.errors import InvalidParameter
from hosting.models import MaintenanceWindow
from hosting.services._common import actor_for, audit, require_operate, required_text
from tenants.models import Miner, Site, Zone

SYSTEM = "hosting.maintenance"
PAST_GRACE = dt.timedelta(minutes=1)  # clock skew between the browser that sent "now" and us
MAX_DURATION_MINUTES = 7 * 24 * 60


def _bad(field: str, message: str) -> InvalidParameter:
    return InvalidParameter(f"{field}: {message}", field=field)


def _validate_scope(site: Site, zone: Zone | None, miner: Miner | None) -> None:
    if zone is not None and zone.site_id != site.pk:
        raise _bad("zone", "not at this site")
    if miner is not None and miner.site_id != site.pk:
        raise _bad("miner_id", "not at this site")
    if zone is not None and miner is not None:
        raise _bad("zone", "give a zone or a miner, not both")


def _validate_timing(
    *, starts_at, ends_at, weekdays, start_time, duration_minutes, tz: str, expires_at, now
) -> list[int]:
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at), ("expires_at", expires_at)):
        if value is not None and timezone.is_naive(value):
            raise _bad(name, "needs a time zone offset")
    if starts_at is None:
        raise _bad("starts_at", "required")
    if starts_at < now - PAST_GRACE:
        raise InvalidParameter(
            "starts_at: a window cannot start in the past", field="starts_at", error_code="WINDOW_IN_THE_PAST"
        )
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _bad("timezone", f"unknown time zone {tz!r}") from None
    if expires_at is not None and expires_at <= starts_at:
        raise _bad("expires_at", "must be after starts_at")
    if ends_at is not None:  # one-off
        if weekdays or start_time is not None or duration_minutes is not None:
            raise _bad("ends_at", "a one-off window has no weekdays, start_time or duration_minutes")
        if ends_at <= starts_at:
            raise _bad("ends_at", "must be after starts_at")
        if ends_at - starts_at > dt.timedelta(minutes=MAX_DURATION_MINUTES):
            raise _bad("ends_at", "a window lasts at most 7 days")
        return []
    days = sorted(set(weekdays or []))
    if not days:
        raise _bad("weekdays", "give ends_at (one-off) or weekdays (weekly)")
    if any(not isinstance(d, int) or not 0 <= d <= 6 for d in days):
        raise _bad("weekdays", "0 (Monday) to 6 (Sunday)")
    if start_time is None:
        raise _bad("start_time", "required for a weekly window")
    if not duration_minutes or not 0 < duration_minutes <= MAX_DURATION_MINUTES:
        raise _bad("duration_minutes", f"1 to {MAX_DURATION_MINUTES}")
    return days


def maintenance_window_check(
    *,
    site: Site,
    zone=None,
    miner=None,
    starts_at,
    ends_at=None,
    weekdays=None,
    start_time=None,
    duration_minutes=None,
    timezone_name=None,
    expires_at=None,
    now=None,
) -> None:
    """The create validation alone (the admin form shows its errors beside the fields)."""
    _validate_scope(site, zone, miner)
    _validate_timing(
        starts_at=starts_at,
        ends_at=ends_at,
        weekdays=weekdays,
        start_time=start_time,
        duration_minutes=duration_minutes,
        tz=timezone_name or site.timezone or "UTC",
        expires_at=expires_at,
        now=now or timezone.now(),
    )


def _payload(w: MaintenanceWindow) -> dict:
    return {
        "scope": w.scope_label,
        "zone": w.zone_id,
        "miner": w.miner_id,
        "reason": w.reason,
        "starts_at": w.starts_at,
        "ends_at": w.ends_at,
        "weekdays": w.weekdays,
        "start_time": w.start_time.isoformat() if w.start_time else None,
        "duration_minutes": w.duration_minutes,
        "timezone": w.timezone,
        "expires_at": w.expires_at,
        "owner": w.owner_id,
    }


def _audit(actor: Actor, verb: str, w: MaintenanceWindow, payload: dict) -> None:
    # A miner window belongs to the miner's tenant; a site or zone window to the site.
    tenant_id = w.miner.tenant_id if w.miner_id else None
    audit(actor, f"hosting.maintenance.{verb}", w, payload, tenant_id=tenant_id, site_code=w.site.code)


@transaction.atomic
def maintenance_window_create(
    *,
    actor: Actor | None,
    user,
    site: Site,
    reason: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime | None = None,
    weekdays: list[int] | None = None,
    start_time: dt.time | None = None,
    duration_minutes: int | None = None,
    timezone_name: str | None = None,
    expires_at: dt.datetime | None = None,
    zone: Zone | None = None,
    miner: Miner | None = None,
    owner=None,
    now: dt.datetime | None = None,
) -> MaintenanceWindow:
    """A one-off (ends_at) or weekly (weekdays, start_time, duration_minutes) window. The time zone
    defaults to the site's; the owner to the user. 400 INVALID_PARAMETER (with `field`) on bad input,
    WINDOW_IN_THE_PAST for a start before now, 403 FORBIDDEN outside the user's OPERATE scope."""
    _validate_scope(site, zone, miner)
    require_operate(user, site=site, miner=miner, zone=zone)
    owner = owner or user
    if owner is None:
        raise _bad("owner", "a window needs an owner")
    now = now or timezone.now()
    tz = timezone_name or site.timezone or "UTC"
    days = _validate_timing(
        starts_at=starts_at,
        ends_at=ends_at,
        weekdays=weekdays,
        start_time=start_time,
        duration_minutes=duration_minutes,
        tz=tz,
        expires_at=expires_at,
        now=now,
    )
    window = MaintenanceWindow.objects.create(
        site=site,
        zone=zone,
        miner=miner,
        owner=owner,
        reason=required_text(reason, "reason", max_length=500),
        starts_at=starts_at,
        ends_at=ends_at,
        weekdays=days,
        start_time=start_time,
        duration_minutes=duration_minutes,
        timezone=tz,
        expires_at=expires_at,
    )
    _audit(actor_for(actor, user, SYSTEM), "created", window, _payload(window))
    return window


def _lock(window: MaintenanceWindow) -> MaintenanceWindow:
    # Cancel racing expire: the second sees the first's change and is refused.
    return (
        MaintenanceWindow.objects.select_for_update(of=("self",))
        .select_related("site", "miner", "zone")
        .get(pk=window.pk)
    )


def _over(w: MaintenanceWindow, now: dt.datetime) -> bool:
    end = w.ends_at if not w.recurring else w.expires_at
    return w.canceled_at is not None or (end is not None and end <= now)


@transaction.atomic
def maintenance_window_cancel(
    *, actor: Actor | None, user, window: MaintenanceWindow, reason: str, now=None
) -> MaintenanceWindow:
    """Cancel a window that has not ended: it held until now (the minutes already judged stay
    planned), nothing after. 409 INVALID_TRANSITION when it is already canceled or over."""
    window = _lock(window)
    require_operate(user, site=window.site, miner=window.miner, zone=window.zone)
    reason = required_text(reason, "reason", max_length=500)
    now = now or timezone.now()
    if _over(window, now):
        raise InvalidTransition(f"maintenance window {window.pk} is already over", window_id=window.pk)
    window.canceled_at = now
    window.save(update_fields=["canceled_at"])
    _audit(actor_for(actor, user, SYSTEM), "canceled", window, {"reason": reason, "canceled_at": now})
    return window


@transaction.atomic
def maintenance_window_expire(
    *, actor: Actor | None, user, window: MaintenanceWindow, at: dt.datetime | None = None, reason: str = "", now=None
) -> MaintenanceWindow:
    """Stop a weekly window recurring from `at` (default now): occurrences before it stand.
    409 INVALID_TRANSITION for a one-off window (cancel it) or one already over."""
    window = _lock(window)
    require_operate(user, site=window.site, miner=window.miner, zone=window.zone)
    now = now or timezone.now()
    at = at or now
    if not window.recurring:
        raise InvalidTransition(f"maintenance window {window.pk} is one-off: cancel it", window_id=window.pk)
    if _over(window, now):
        raise InvalidTransition(f"maintenance window {window.pk} is already over", window_id=window.pk)
    if at < now - PAST_GRACE:
        raise InvalidParameter("at: cannot expire a window in the past", field="at", error_code="WINDOW_IN_THE_PAST")
    if at <= window.starts_at:
        raise _bad("at", "before the window starts: cancel it")
    window.expires_at = at
    window.save(update_fields=["expires_at"])
    _audit(actor_for(actor, user, SYSTEM), "expired", window, {"reason": (reason or "").strip(), "expires_at": at})
    return window
