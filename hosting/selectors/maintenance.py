"""Maintenance windows as occurrences in time: a one-off window is one, a weekly window is one per
listed weekday at its local start time in its own time zone (so 02:00 stays 02:00 across a DST
change). The downtime pass and the rule engine read windows only through here."""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db.models import Q

from hosting.models import MaintenanceWindow
from tenants import scoping
from tenants.scoping import Capability


@dataclass(frozen=True)
class Occurrence:
    window: MaintenanceWindow
    start: dt.datetime
    end: dt.datetime


def _weekly(w: MaintenanceWindow, start: dt.datetime, end: dt.datetime):
    zone = ZoneInfo(w.timezone)
    assert w.start_time is not None and w.duration_minutes is not None  # maintenance_one_off_or_weekly
    stop = min(end, w.expires_at) if w.expires_at else end
    day = max(start, w.starts_at).astimezone(zone).date() - dt.timedelta(days=1)  # one may run over midnight
    last = stop.astimezone(zone).date()
    while day <= last:
        if day.weekday() in w.weekdays:
            local = dt.datetime.combine(day, w.start_time, tzinfo=zone)
            begin = local.astimezone(dt.UTC)
            finish = (local + dt.timedelta(minutes=w.duration_minutes)).astimezone(dt.UTC)
            if begin < stop and finish > start and begin >= w.starts_at:
                yield Occurrence(w, max(begin, start), min(finish, stop))
        day += dt.timedelta(days=1)


def maintenance_occurrences(*, site, start: dt.datetime, end: dt.datetime) -> list[Occurrence]:
    """Every occurrence of the site's live windows overlapping [start, end), clipped to it."""
    windows = (
        MaintenanceWindow.objects.filter(site=site, starts_at__lt=end)
        .filter(Q(canceled_at__isnull=True) | Q(canceled_at__gt=start))
        .filter(Q(ends_at__gt=start) | Q(ends_at__isnull=True, expires_at__isnull=True) | Q(expires_at__gt=start))
        .select_related("zone", "miner")
    )
    out: list[Occurrence] = []
    for w in windows:
        stop = min(end, w.canceled_at) if w.canceled_at else end  # a canceled window held until then
        if w.recurring:
            out.extend(_weekly(w, start, stop))
        elif w.ends_at is not None and w.starts_at < stop:
            out.append(Occurrence(w, max(w.starts_at, start), min(w.ends_at, stop)))
    return sorted(out, key=lambda o: (o.start, o.window.pk))


def maintenance_windows_for(user, capability: str = Capability.VIEW):
    """Windows in the user's scope: operators those of their sites (a zone or miner window only when
    they see that zone or miner); customers those covering one of their miners — their miner's
    window, a window of a zone holding one, or a site-wide window of a site holding one."""
    scope = scoping.scope_for(user)
    qs = MaintenanceWindow.objects.all()
    if scope.is_platform:
        return qs
    if scope.is_operator:
        return qs.filter(
            Q(miner__in=scoping.miners_for(user, capability))
            | Q(miner__isnull=True, zone__in=scoping.zones_for(user, capability))
            | Q(miner__isnull=True, zone__isnull=True, site__in=scoping.sites_for(user, capability))
        )
    if not scope.has_customer_side or capability != Capability.VIEW:
        return qs.none()
    mine = scoping.miners_for(user).filter(scope.customer_miner_q())
    return qs.filter(
        Q(miner__in=mine)
        | Q(miner__isnull=True, zone__in=mine.values("zone"))
        | Q(miner__isnull=True, zone__isnull=True, site__in=mine.values("site"))
    )


def maintenance_window_get(user, pk) -> MaintenanceWindow:
    return scoping.object_get(maintenance_windows_for(user).select_related("site", "zone", "miner", "owner"), pk)
