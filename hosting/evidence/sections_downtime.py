"""Downtime (by miner, by site, intervals with attribution) and metric snapshots of a pack."""

import datetime as dt

import orjson
from django.conf import settings
from django.db.models import CharField, Count, F, FloatField, Func, Max, Sum
from django.db.models.functions import Cast, NullIf

from hosting.evidence.context import BuildContext
from hosting.evidence.zipout import SQL_TS, PackZip, num, ts
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
    rows = qs.values_list(
        "pk",
        "miner__miner_id",
        "cause",
        "started_at",
        "ended_at",
        "command_id",
        "command__command_type",
        "maintenance_id",
        "maintenance__reason",
        "evidence",
    )
    with pz.csv("downtime/intervals.csv", INTERVAL_HEADER) as out:
        for pk, miner_id, cause, started, ended, cmd, cmd_type, window, reason, evidence in rows.iterator(2000):
            minutes = num(_clip_minutes(started, ended, ctx))
            out.row(
                [pk, miner_id, cause, ts(started), ts(ended), minutes, cmd, cmd_type, window, reason, _json(evidence)]
            )


def _json(value) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode() if value else ""


# --- metric snapshots ---------------------------------------------------------------------------------


TIER_SPAN = (("1m", dt.timedelta(days=1)), ("15m", dt.timedelta(days=93)))
TIER_BUCKET = {"1m": dt.timedelta(minutes=1), "15m": dt.timedelta(minutes=15)}


def metrics_tier(start: dt.datetime, end: dt.datetime, miners: int) -> str:
    """The finest tier whose rows for the period (miners × buckets) stay within
    EVIDENCE_PACK_METRIC_ROWS — 1m for at most a day, 15m for at most 93 days, else daily — so a
    pack's work is bounded whatever the fleet and period."""
    span = end - start
    for tier, longest in TIER_SPAN:
        if span <= longest and miners * (span / TIER_BUCKET[tier]) <= settings.EVIDENCE_PACK_METRIC_ROWS:
            return tier
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


def _text(*fields: str, template: str) -> Func:
    """A column the database renders as text, so millions of rows reach the CSV without a Python
    conversion each (NULL stays NULL: an empty cell)."""
    return Func(*(F(f) for f in fields), template=template, arg_joiner=", ", output_field=CharField())


def _ratio(num_field: str, den_field: str, scale: str, digits: int) -> Func:
    # (num / nullif(den, 0)<scale>) rounded: the joiner and the template close the nullif
    template = f"round((%(expressions)s, 0){scale})::numeric, {digits})::text"
    return Func(F(num_field), F(den_field), template=template, arg_joiner=" / nullif(", output_field=CharField())


def metric_files(pz: PackZip, ctx: BuildContext) -> str:
    """metrics/by_miner.csv and metrics/total.csv from one tier; returns the tier."""
    tier = metrics_tier(ctx.start, ctx.end, len(ctx.miner_pks))
    qs, time_field = _tier_rows(ctx, tier)
    at = _text(time_field, template="%(expressions)s::text" if tier == "daily" else SQL_TS)
    rows = (
        qs.order_by("miner_id", time_field)
        .annotate(
            at_text=at,
            h_avg=_ratio("hashrate_5s_sum", "hashrate_5s_count", " / 1000.0", 3),
            h_max=_text("hashrate_5s_max", template="round((%(expressions)s / 1000.0)::numeric, 3)::text"),
            t_max=_text("temperature_max_max", template="round((%(expressions)s)::numeric, 1)::text"),
            t_avg=_ratio("temperature_max_sum", "temperature_max_count", "", 1),
        )
        .values_list("miner__miner_id", "at_text", "samples", "online_samples", "h_avg", "h_max", "t_max", "t_avg")
    )
    label = (lambda d: d.isoformat()) if tier == "daily" else ts
    with pz.csv("metrics/by_miner.csv", METRIC_HEADER) as out:
        for row in rows.iterator(chunk_size=5000):
            out.row(row)
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
