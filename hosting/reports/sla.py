"""The SLA report (SPEC §9): for a tenant (or all tenants an operator sees), one site or all sites,
and a period [from, to): availability over measured time, measured and unmeasured minutes,
downtime minutes by cause (planned vs unplanned), rows per site, per miner and per UTC day, the
hashrate delivered against the nominal, and the definitions (docs/DOWNTIME.md) it was computed by.

Every figure comes from the downtime intervals and the telemetry tiers through set-based reads
(a fixed number of queries whatever the fleet size), scoped like every other read: a customer's
report of a shared site holds their own miners only."""

import datetime as dt

from django.conf import settings
from django.utils import timezone

from core.errors import InvalidParameter
from hosting.definitions import DEFINITIONS_TEXT, DEFINITIONS_VERSION
from hosting.models.downtime import PLANNED_CAUSES, DowntimeCause
from hosting.reports import sla_sql
from hosting.selectors.downtime import CAUSES, DOWN_CAUSES, downtime_scope_params, downtime_summary
from tenants import scoping
from tenants.models import Miner, Site, Tenant

REPORT_VERSION = "sla-report.v1"
UNPLANNED_CAUSES = [c for c in DOWN_CAUSES if c not in PLANNED_CAUSES]
CAUSE_LABELS = {c.value: c.label[:1].upper() + c.label[1:] for c in DowntimeCause}
TOP_MINERS = 10


# --- the period -----------------------------------------------------------------------------------


def report_period(start: dt.datetime | None, end: dt.datetime | None, *, now=None) -> tuple[dt.datetime, dt.datetime]:
    """Default (this month so far: the first of the month to the first of the next) and check the
    period: 400 INVALID_PARAMETER when reversed, empty or longer than SLA_REPORT_MAX_DAYS."""
    now = now or timezone.now()
    if start is None and end is None:
        start = month_start(now)
        end = next_month(start)
    elif start is None or end is None:
        missing = "from" if start is None else "to"
        raise InvalidParameter("give both from and to (or neither: this month)", field=missing)
    if start >= end:
        raise InvalidParameter("from must be before to", field="from")
    limit = settings.SLA_REPORT_MAX_DAYS
    if end - start > dt.timedelta(days=limit):
        raise InvalidParameter(f"period too long: at most {limit} days (SLA_REPORT_MAX_DAYS)", field="to")
    return start, end


def month_start(when: dt.datetime) -> dt.datetime:
    when = when.astimezone(dt.UTC)
    return dt.datetime(when.year, when.month, 1, tzinfo=dt.UTC)


def next_month(first: dt.datetime) -> dt.datetime:
    return dt.datetime(first.year + first.month // 12, first.month % 12 + 1, 1, tzinfo=dt.UTC)


def previous_month(first: dt.datetime) -> dt.datetime:
    return dt.datetime(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1, tzinfo=dt.UTC)


# --- figures --------------------------------------------------------------------------------------


def _pct(part: float, whole: float) -> float | None:
    return None if not whole else round(100.0 * part / whole, 3)


def figures(period_minutes: float, minutes: dict[str, float]) -> dict:
    """The figures of docs/DOWNTIME.md from owned minutes and downtime minutes by cause."""
    by_cause = {c: round(minutes.get(c, 0.0), 3) for c in CAUSES}
    unmeasured = by_cause[DowntimeCause.UNMEASURED]
    measured = max(period_minutes - unmeasured, 0.0)
    planned = sum(by_cause[c] for c in PLANNED_CAUSES)
    unplanned = sum(by_cause[c] for c in UNPLANNED_CAUSES)
    return {
        "period_minutes": round(period_minutes, 3),
        "measured_minutes": round(measured, 3),
        "unmeasured_minutes": unmeasured,
        "planned_minutes": round(planned, 3),
        "unplanned_minutes": round(unplanned, 3),
        "downtime_minutes": by_cause,
        "availability_pct": _pct(measured - unplanned, measured),
        "uptime_pct": _pct(measured - unplanned - planned, measured),
    }


def _ths(ghs_minutes: float, minutes: float) -> float:
    """GH/s·minutes over a span of minutes → average TH/s."""
    return 0.0 if not minutes else round(ghs_minutes / minutes / 1000.0, 3)


def _scope_label(user, tenant: Tenant | None) -> dict:
    if tenant is not None:
        return {"slug": tenant.slug, "name": tenant.name}
    scope = scoping.scope_for(user)
    if scope.is_customer:
        names = list(Tenant.objects.filter(pk__in=scope.customer_tenants_all).order_by("name").values("slug", "name"))
        if len(names) == 1:
            return names[0]
        return {"slug": None, "name": ", ".join(t["name"] for t in names)}
    return {"slug": None, "name": "All tenants in your scope"}


def sla_report(
    user,
    *,
    start: dt.datetime,
    end: dt.datetime,
    site: Site | None = None,
    tenant: Tenant | None = None,
    now: dt.datetime | None = None,
) -> dict:
    """The report as plain data (JSON-ready apart from datetimes): the caller has resolved `site`
    and `tenant` through scoping (403 otherwise) and checked the period (report_period)."""
    now = now or timezone.now()
    params = downtime_scope_params(user, start=start, end=end, site=site, tenant=tenant, now=now)
    summary = downtime_summary(user, start=start, end=end, site=site, tenant=tenant, now=now, params=params)
    per_miner = summary["per_miner"]
    elapsed = max((params["now"] - start).total_seconds() / 60.0, 0.0)
    tier, hash_minutes = sla_sql.delivered_hash_minutes(
        user, params, site_id=site.pk if site is not None else None, now=now
    )
    miners = {
        m["pk"]: m
        for m in Miner.objects.filter(pk__in={r.miner_pk for r in per_miner}).values(
            "pk", "miner_id", "model", "nominal_hashrate_ths", "site__code", "site__name", "zone__code"
        )
    }
    tenants = dict(Tenant.objects.filter(pk__in={r.tenant_id for r in per_miner}).values_list("pk", "slug"))

    miner_rows = []
    for r in per_miner:
        info = miners[r.miner_pk]
        delivered = hash_minutes.get((r.miner_pk, r.tenant_id), 0.0)
        miner_rows.append(
            {
                "miner_id": r.miner_id,
                "site": r.site,
                "zone": info["zone__code"],
                "tenant": tenants.get(r.tenant_id),
                "model": info["model"],
                "nominal_ths": float(info["nominal_hashrate_ths"] or 0),
                "delivered_ths": _ths(delivered, elapsed),
                **figures(r.period_minutes, r.minutes),
                "_hash_minutes": delivered,
            }
        )

    sites: dict[str, dict] = {}
    for row in miner_rows:
        s = sites.setdefault(row["site"], {"miners": set(), "period": 0.0, "minutes": {}, "hash": 0.0, "nominal": {}})
        s["miners"].add(row["miner_id"])
        s["period"] += row["period_minutes"]
        s["hash"] += row.pop("_hash_minutes")
        s["nominal"][row["miner_id"]] = row["nominal_ths"]
        for cause, value in row["downtime_minutes"].items():
            s["minutes"][cause] = s["minutes"].get(cause, 0.0) + value
    site_names = {m["site__code"]: m["site__name"] for m in miners.values()}
    site_rows = [
        {
            "code": code,
            "name": site_names.get(code, ""),
            "miners": len(s["miners"]),
            "nominal_ths": round(sum(s["nominal"].values()), 3),
            "delivered_ths": _ths(s["hash"], elapsed),
            **figures(s["period"], s["minutes"]),
        }
        for code, s in sorted(sites.items())
    ]

    nominal = round(sum(float(m["nominal_hashrate_ths"] or 0) for m in miners.values()), 3)
    delivered = round(sum(s["delivered_ths"] for s in site_rows), 3)
    totals = figures(summary["period_minutes"], summary["downtime_minutes"])
    days = [{"date": day, **figures(d["period_minutes"], d["minutes"])} for day, d in sla_sql.day_rows(params).items()]
    down = sorted(
        (m for m in miner_rows if m["planned_minutes"] + m["unplanned_minutes"] > 0),
        key=lambda m: (-(m["unplanned_minutes"] + m["planned_minutes"]), m["site"], m["miner_id"]),
    )
    return {
        "report": "sla",
        "version": REPORT_VERSION,
        "generated_at": now,
        "tenant": _scope_label(user, tenant),
        "site": {"code": site.code, "name": site.name} if site is not None else None,
        "period": {"from": start, "to": end, "counted_until": params["now"]},
        "summary": {
            "miners": summary["miners"],
            "sites": len(site_rows),
            **totals,
            "nominal_ths": nominal,
            "delivered_ths": delivered,
            "delivered_pct": _pct(delivered, nominal),
            "hashrate_tier": tier,
        },
        "causes": [
            {"cause": c, "label": CAUSE_LABELS[c], "planned": c in PLANNED_CAUSES, "minutes": minutes}
            for c, minutes in totals["downtime_minutes"].items()
        ],
        "sites": site_rows,
        "days": days,
        "miners": miner_rows,
        "top_miners": down[:TOP_MINERS],
        "definitions": {"version": DEFINITIONS_VERSION, "text": DEFINITIONS_TEXT},
    }
