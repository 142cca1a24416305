"""The portal's downtime reads (SPEC §10): a period, the availability figures per site, a timeline
of the miners with the most downtime, and the intervals — all of one tenant, as owner at the time,
through hosting.selectors.downtime (so the figures are the SLA report's: docs/DOWNTIME.md)."""

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from hosting.models import DowntimeCause, DowntimeInterval
from hosting.models.downtime import PLANNED_CAUSES
from hosting.selectors.downtime import CAUSES, DOWN_CAUSES, downtime_intervals_list, downtime_summary

MAX_DAYS = 366
LANES = 12  # miners on the timeline
CAUSE_LABELS = {c.value: c.label for c in DowntimeCause}


@dataclass(frozen=True)
class Period:
    start: dt.datetime
    end: dt.datetime
    key: str  # "2026-11" (a month) or "" (custom from/to)

    @property
    def last_day(self) -> dt.date:
        return (self.end - dt.timedelta(days=1)).date()


def _month(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, 1, tzinfo=dt.UTC)


def _next_month(start: dt.datetime) -> dt.datetime:
    return (start + dt.timedelta(days=32)).replace(day=1)


def period_parse(params, *, now: dt.datetime | None = None) -> tuple[Period, str]:
    """?month=YYYY-MM, or ?from=YYYY-MM-DD&to=YYYY-MM-DD (to inclusive); this month by default.
    Returns the period and an error message for input that could not be used ("" when fine)."""
    now = now or timezone.now()
    this_month = Period(_month(now.date()), _next_month(_month(now.date())), f"{now:%Y-%m}")
    since, until = params.get("from", ""), params.get("to", "")
    if since or until:
        try:
            a = dt.date.fromisoformat(since)
            b = dt.date.fromisoformat(until)
        except ValueError:
            return this_month, "Dates must be YYYY-MM-DD; showing this month."
        if b < a:
            return this_month, "The end date is before the start date; showing this month."
        if (b - a).days + 1 > MAX_DAYS:
            return this_month, f"A period is at most {MAX_DAYS} days; showing this month."
        start = dt.datetime.combine(a, dt.time(), tzinfo=dt.UTC)
        return Period(start, dt.datetime.combine(b, dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1), ""), ""
    month = params.get("month", "")
    if month:
        try:
            start = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=dt.UTC)
        except ValueError:
            return this_month, "Months are YYYY-MM; showing this month."
        return Period(start, _next_month(start), month), ""
    return this_month, ""


def month_choices(*, now: dt.datetime | None = None, count: int = 12) -> list[str]:
    start = _month((now or timezone.now()).date())
    out = []
    for _ in range(count):
        out.append(f"{start:%Y-%m}")
        start = _month((start - dt.timedelta(days=1)).date())
    return out


def _figures(rows) -> dict:
    """The figures of a set of MinerDowntime rows (one site's, or all): docs/DOWNTIME.md."""
    period = sum(r.period_minutes for r in rows)
    by_cause = {c: round(sum(r.minutes.get(c, 0.0) for r in rows), 1) for c in CAUSES}
    unmeasured = by_cause[DowntimeCause.UNMEASURED]
    measured = max(period - unmeasured, 0.0)
    planned = sum(v for c, v in by_cause.items() if c in PLANNED_CAUSES)
    unplanned = sum(v for c, v in by_cause.items() if c in DOWN_CAUSES and c not in PLANNED_CAUSES)
    return {
        "miners": len({r.miner_pk for r in rows}),
        "period_minutes": round(period, 1),
        "measured_minutes": round(measured, 1),
        "unmeasured_minutes": unmeasured,
        "planned_minutes": round(planned, 1),
        "unplanned_minutes": round(unplanned, 1),
        "by_cause": by_cause,
        "availability_pct": None if not measured else round(100.0 * (measured - unplanned) / measured, 3),
        "uptime_pct": None if not measured else round(100.0 * (measured - unplanned - planned) / measured, 3),
    }


def downtime_overview(user, view, period: Period, *, now: dt.datetime | None = None) -> dict:
    """The totals and per-site figures of the tenant's miners over the period (up to now)."""
    summary = downtime_summary(user, start=period.start, end=period.end, tenant=view.tenant, now=now)
    rows = summary["per_miner"]
    sites = sorted({r.site for r in rows})
    return {
        "totals": _figures(rows),
        "sites": [{"code": code, **_figures([r for r in rows if r.site == code])} for code in sites],
        "per_miner": rows,
    }


def tenant_intervals(user, view, period: Period):
    return downtime_intervals_list(user, start=period.start, end=period.end, tenant=view.tenant).order_by(
        "-started_at", "-id"
    )


def timeline(user, view, period: Period, per_miner, *, now: dt.datetime | None = None) -> list[dict]:
    """Swimlanes of the LANES miners with the most downtime (unmeasured counted too): each lane's
    intervals as x/width fractions (0…100) of the period, clipped to it and to now."""
    now = min(now or timezone.now(), period.end)
    ranked = sorted(per_miner, key=lambda r: (-sum(r.minutes.values()), r.miner_id))
    top = [r for r in ranked if sum(r.minutes.values()) > 0][:LANES]
    if not top:
        return []
    span = (period.end - period.start).total_seconds()
    lanes = {(r.miner_pk, r.tenant_id): {"miner": r.miner_id, "site": r.site, "minutes": r.minutes, "bars": []}
             for r in top}  # fmt: skip
    rows = tenant_intervals(user, view, period).filter(miner_id__in=[r.miner_pk for r in top])
    for i in rows.select_related(None).only("miner_id", "tenant_id", "started_at", "ended_at", "cause"):
        lane = lanes.get((i.miner_id, i.tenant_id))
        if lane is None:
            continue
        a = max(i.started_at, period.start)
        b = min(i.ended_at or now, now)
        if b <= a:
            continue
        lane["bars"].append(
            {
                "x": round(100 * (a - period.start).total_seconds() / span, 3),
                "w": max(round(100 * (b - a).total_seconds() / span, 3), 0.15),  # a minute stays visible
                "cause": i.cause,
                "title": f"{CAUSE_LABELS[i.cause]}: {a:%Y-%m-%d %H:%M}–{b:%H:%M} UTC",
            }
        )
    for lane in lanes.values():
        lane["total"] = round(sum(lane["minutes"].values()), 1)
    return list(lanes.values())


def interval_rows(page_rows, period: Period, *, now: dt.datetime | None = None) -> list[dict]:
    """One table row per interval: its own start and end (not clipped), the minutes within the
    period, and what explains it."""
    now = now or timezone.now()
    out = []
    for i in page_rows:
        a, b = max(i.started_at, period.start), min(i.ended_at or now, period.end, now)
        out.append(
            {
                "interval": i,
                "minutes": max(round((b - a).total_seconds() / 60, 1), 0.0),
                "label": CAUSE_LABELS[i.cause],
                "planned": i.cause in PLANNED_CAUSES,
            }
        )
    return out


def miner_intervals(user, view, miner, *, days: int = 30) -> list[DowntimeInterval]:
    """The miner's intervals of the last `days` that belong to this tenant (owner at the time)."""
    end = timezone.now()
    start = end - dt.timedelta(days=days)
    rows = downtime_intervals_list(user, start=start, end=end, tenant=view.tenant, miner=miner)
    return list(rows.order_by("-started_at")[:100])


def availability_this_month(user, view, *, now: dt.datetime | None = None) -> dict:
    """The dashboard's card: this month's totals, as on the Downtime page."""
    period, _ = period_parse({}, now=now)
    summary = downtime_summary(user, start=period.start, end=period.end, tenant=view.tenant, now=now)
    return _figures(summary["per_miner"])
