"""Downtime (by miner, by site, intervals with attribution) and metric snapshots of a pack."""

import datetime as dt

from django.db.models import Count, F, FloatField, Max, Sum
from django.db.models.functions import Cast, NullIf

from hosting.evidence.context import BuildContext
from hosting.evidence.zipout import PackZip, num, ts
from hosting.selectors.downtime import CAUSES, downtime_by_miner, downtime_intervals_list, downtime_summary
from telemetry.selectors_history import tier_rows_for

FIGURES = ["period_minutes", "measured_minutes", *(f"{c}_minutes" for c in CAUSES)]
FIGURES += ["planned_minutes", "unplanned_minutes", "availability_pct"]


def _clip_minutes(started: dt.datetime, ended: dt.datetime | None, ctx: BuildContext) -> float:
    stop = min(ended or ctx.until, ctx.until)
    return max((stop - max(started, ctx.start)).total_seconds() / 60.0, 0.0)


def downtime_files(pz: PackZip, ctx: BuildContext) -> dict:
    """downtime/by_miner.csv, downtime/by_site.csv; returns the site figures for the manifest."""
    kw = {"start": ctx.start, "end": ctx.end, "site": ctx.site, "tenant": ctx.tenant, "now": ctx.now}
    own = set(ctx.miner_pks)
    with pz.csv("downtime/by_miner.csv", ["miner_id", *FIGURES]) as out:
        for m in sorted(downtime_by_miner(ctx.user, **kw), key=lambda r: r.miner_id):
            if m.miner_pk not in own or m.tenant_id != ctx.tenant.pk:
                continue
            causes = [num(m.minutes.get(c, 0.0)) for c in CAUSES]
            row = [m.miner_id, num(m.period_minutes), num(m.measured), *causes, num(m.planned), num(m.unplanned)]
            out.row([*row, num(m.availability_pct)])
    summary = downtime_summary(ctx.user, **kw)
    with pz.csv("downtime/by_site.csv", ["site", "miners", *FIGURES, "uptime_pct"]) as out:
        causes = [num(summary["downtime_minutes"][c]) for c in CAUSES]
        out.row(
            [
                ctx.site.code,
                summary["miners"],
                num(summary["period_minutes"]),
                num(summary["measured_minutes"]),
                *causes,
                num(summary["planned_minutes"]),
                num(summary["unplanned_minutes"]),
                num(summary["availability_pct"]),
                num(summary["uptime_pct"]),
            ]
        )
    return {k: summary[k] for k in ("miners", "period_minutes", "unmeasured_minutes", "availability_pct")}


INTERVAL_HEADER = [
    "interval_id",
    "miner_id",
    "cause",
    "started_at",
    "ended_at",
    "minutes_in_period",
    "command_id",
    "command_type",
    "maintenance_id",
    "maintenance_reason",
    "evidence",
]


def interval_file(pz: PackZip, ctx: BuildContext) -> None:
    qs = downtime_intervals_list(ctx.user, start=ctx.start, end=ctx.end, site=ctx.site, tenant=ctx.tenant)
    with pz.csv("downtime/intervals.csv", INTERVAL_HEADER) as out:
        for i in qs.iterator(chunk_size=2000):
            command, window = i.command, i.maintenance
            out.row(
                [
                    i.pk,
                    i.miner.miner_id,
                    i.cause,
                    ts(i.started_at),
                    ts(i.ended_at),
                    num(_clip_minutes(i.started_at, i.ended_at, ctx)),
                    i.command_id or "",
                    command.command_type if command else "",
                    i.maintenance_id or "",
                    window.reason if window else "",
                    _json(i.evidence),
                ]
            )


def _json(value) -> str:
    import orjson

    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode() if value else ""


# --- metric snapshots ---------------------------------------------------------------------------------


def metrics_tier(start: dt.datetime, end: dt.datetime) -> str:
    """The finest tier the period allows in bounded work: 1m up to a day, 15m up to a week, then daily."""
    span = end - start
    if span <= dt.timedelta(days=1):
        return "1m"
    if span <= dt.timedelta(days=7):
        return "15m"
    return "daily"


METRIC_HEADER = [
    "miner_id",
    "bucket",
    "samples",
    "online_samples",
    "hashrate_avg_ths",
    "hashrate_max_ths",
    "temperature_max_c",
    "temperature_avg_c",
]


def _tier_rows(ctx: BuildContext, tier: str):
    time_field = "day" if tier == "daily" else "bucket"
    qs = tier_rows_for(ctx.user, tier).filter(site_id=ctx.site.pk, tenant_id=ctx.tenant.pk)
    if tier == "daily":
        last = ctx.end.date() if ctx.end.time() == dt.time() else ctx.end.date() + dt.timedelta(days=1)
        qs = qs.filter(day__gte=ctx.start.date(), day__lt=last)
    else:
        qs = qs.filter(bucket__gte=ctx.start, bucket__lt=ctx.end)
    return qs, time_field


def metric_files(pz: PackZip, ctx: BuildContext) -> str:
    """metrics/by_miner.csv and metrics/total.csv from one tier; returns the tier."""
    tier = metrics_tier(ctx.start, ctx.end)
    qs, time_field = _tier_rows(ctx, tier)
    rows = qs.order_by("miner_id", time_field).values_list(
        "miner__miner_id",
        time_field,
        "samples",
        "online_samples",
        "hashrate_5s_sum",
        "hashrate_5s_count",
        "hashrate_5s_max",
        "temperature_max_max",
        "temperature_max_sum",
        "temperature_max_count",
    )
    label = (lambda d: d.isoformat()) if tier == "daily" else ts
    with pz.csv("metrics/by_miner.csv", METRIC_HEADER) as out:
        for miner_id, at, samples, online, h_sum, h_n, h_max, t_max, t_sum, t_n in rows.iterator(chunk_size=5000):
            out.row(
                [
                    miner_id,
                    label(at),
                    samples,
                    online,
                    num(h_sum / h_n / 1000.0) if h_n else "",
                    num(h_max / 1000.0 if h_max is not None else None),
                    num(t_max, 1),
                    num(t_sum / t_n, 1) if t_n else "",
                ]
            )
    per_row_avg = Cast(F("hashrate_5s_sum"), FloatField()) / NullIf(F("hashrate_5s_count"), 0)
    totals = (
        qs.order_by()
        .values(time_field)
        .annotate(
            miners=Count("miner_id", distinct=True),
            samples=Sum("samples"),
            online_samples=Sum("online_samples"),
            hashrate_ghs=Sum(per_row_avg),
            temperature_max=Max("temperature_max_max"),
        )
        .order_by(time_field)
    )
    header = ["bucket", "miners", "samples", "online_samples", "hashrate_ths", "temperature_max_c"]
    with pz.csv("metrics/total.csv", header) as out:
        for r in totals.iterator(chunk_size=5000):
            h = r["hashrate_ghs"]
            row = [label(r[time_field]), r["miners"], r["samples"], r["online_samples"]]
            out.row([*row, num(h / 1000.0 if h is not None else None), num(r["temperature_max"], 1)])
    return tier
