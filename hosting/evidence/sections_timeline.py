"""The event timeline of a pack: alerts, work orders, commands, maintenance windows, collector dark
periods, and upload coverage from the ingest receipts.

Site-wide rows (a dark collector, a site maintenance window, upload coverage) say nothing about
another customer: they carry times and kinds, never another customer's miner, name or figure
(no record counts, no alert details or titles of site alerts)."""

import datetime as dt

import orjson
from django.conf import settings
from django.db.models import Min, OuterRef, Q, Subquery

from control.models import CommandAttempt
from control.selectors import commands_for
from control.services.params import redact
from hosting.evidence.context import BuildContext, stream_sql
from hosting.evidence.zipout import PackZip, ts
from hosting.models import Alert, WorkOrder, WorkOrderComment, WorkOrderEvent
from hosting.selectors.maintenance import maintenance_occurrences


def _who(user, system: str = "") -> str:
    return user.get_username() if user is not None else (f"system:{system}" if system else "")


def alert_file(pz: PackZip, ctx: BuildContext) -> None:
    qs = (
        Alert.objects.filter(site=ctx.site, fired_at__lt=ctx.end)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=ctx.start))
        .filter(Q(tenant=ctx.tenant) | Q(tenant__isnull=True, miner__isnull=True))
        .select_related("miner", "acknowledged_by")
        .order_by("fired_at", "id")
    )
    header = ["alert_id", "scope", "miner_id", "kind", "severity", "source", "state", "title"]
    header += ["fired_at", "acknowledged_at", "acknowledged_by", "resolved_at"]
    with pz.csv("timeline/alerts.csv", header) as out:
        for a in qs.iterator(chunk_size=2000):
            own = a.tenant_id == ctx.tenant.pk
            out.row(
                [
                    a.pk,
                    "miner" if a.miner_id else ("tenant" if own else "site"),
                    a.miner.miner_id if a.miner_id and own else "",
                    a.kind,
                    a.severity,
                    a.source,
                    a.state,
                    a.title if own else "",  # a site alert's title may count every customer's miners
                    ts(a.fired_at),
                    ts(a.acknowledged_at),
                    _who(a.acknowledged_by) if a.acknowledged_by_id else "",
                    ts(a.resolved_at),
                ]
            )


def work_order_files(pz: PackZip, ctx: BuildContext) -> None:
    qs = (
        WorkOrder.objects.filter(site=ctx.site, tenant=ctx.tenant, created_at__lt=ctx.end)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=ctx.start))
        .select_related("miner", "created_by")
        .order_by("created_at", "id")
    )
    header = ["work_order_id", "miner_id", "title", "status", "priority", "source", "alert_id", "created_by"]
    header += ["created_at", "resolved_at", "closed_at"]
    with pz.csv("timeline/work_orders.csv", header) as out:
        for w in qs.iterator(chunk_size=2000):
            out.row(
                [
                    w.pk,
                    w.miner.miner_id if w.miner_id else "",
                    w.title,
                    w.status,
                    w.priority,
                    w.source,
                    w.alert_id or "",
                    _who(w.created_by, w.source) if w.created_by_id else f"system:{w.source}",
                    ts(w.created_at),
                    ts(w.resolved_at),
                    ts(w.closed_at),
                ]
            )
    history = WorkOrderEvent.objects.filter(work_order__in=qs.values("pk")).order_by("at", "id")
    with pz.csv("timeline/work_order_history.csv", ["work_order_id", "at", "from", "to", "by", "reason"]) as out:
        for e in history.iterator(chunk_size=2000):
            out.row([e.work_order_id, ts(e.at), e.from_status, e.to_status, e.actor_label, e.reason])
    comments = (
        WorkOrderComment.objects.filter(work_order__in=qs.values("pk"), public=True)
        .select_related("author")
        .order_by("created_at", "id")
    )
    with pz.csv("timeline/work_order_comments.csv", ["work_order_id", "at", "author", "body"]) as out:
        for c in comments.iterator(chunk_size=2000):
            out.row([c.work_order_id, ts(c.created_at), _who(c.author) if c.author_id else "", c.body])


COMMAND_HEADER = [
    "command_id",
    "miner_id",
    "command_type",
    "params",
    "priority_class",
    "state",
    "why",
    "created_at",
    "created_by",
    "approval_required",
    "approved_by",
    "approved_at",
    "decided_reason",
    "first_dispatched_at",
    "acked_at",
    "ack_status",
    "outcome",
    "error_code",
    "finished_at",
]


def command_file(pz: PackZip, ctx: BuildContext) -> None:
    """Every command on the tenant's miners at the site (the tenant at creation time) created in the
    period or still in effect in it: who, why, approved by, dispatch, ACK and the verification outcome."""
    last_ack = CommandAttempt.objects.filter(command=OuterRef("pk")).exclude(ack_status="")
    qs = (
        commands_for(ctx.user)
        .filter(site=ctx.site, tenant=ctx.tenant, miner_id__in=ctx.miner_pks, created_at__lt=ctx.end)
        .filter(Q(created_at__gte=ctx.start) | Q(finished_at__isnull=True) | Q(finished_at__gte=ctx.start))
        .annotate(
            first_dispatch=Min("attempts__leased_at"),
            ack_status=Subquery(last_ack.order_by("-attempt", "-lease_epoch").values("ack_status")[:1]),
        )
        .select_related("miner", "created_by", "approved_by")
        .order_by("created_at", "id")
    )
    with pz.csv("timeline/commands.csv", COMMAND_HEADER) as out:
        for c in qs.iterator(chunk_size=2000):
            out.row(
                [
                    c.pk,
                    c.miner.miner_id,
                    c.command_type,
                    orjson.dumps(redact(c.params), option=orjson.OPT_SORT_KEYS).decode() if c.params else "",
                    c.get_priority_class_display(),
                    c.state,
                    c.reason,
                    ts(c.created_at),
                    _who(c.created_by, c.created_by_system) if c.created_by_id else f"system:{c.created_by_system}",
                    "yes" if c.approval_required else "no",
                    _who(c.approved_by) if c.approved_by_id else "",
                    ts(c.approved_at),
                    c.decided_reason,
                    ts(c.first_dispatch),
                    ts(c.acked_at),
                    c.ack_status or "",
                    c.outcome,
                    c.error_code,
                    ts(c.finished_at),
                ]
            )


def maintenance_file(pz: PackZip, ctx: BuildContext) -> None:
    own = set(ctx.miner_pks)
    header = ["window_id", "scope", "target", "reason", "owner", "recurring", "started_at", "ended_at"]
    with pz.csv("timeline/maintenance.csv", header) as out:
        for o in maintenance_occurrences(site=ctx.site, start=ctx.start, end=ctx.end):
            w = o.window
            if w.miner_id and w.miner_id not in own:
                continue  # another customer's miner
            scope, target = (
                ("miner", w.miner.miner_id)
                if w.miner_id
                else (("zone", w.zone.code) if w.zone_id else ("site", ctx.site.code))
            )
            row = [w.pk, scope, target, w.reason, _who(w.owner), "weekly" if w.recurring else "one-off"]
            out.row([*row, ts(o.start), ts(o.end)])


_DARK_SQL = """
WITH r AS (
    SELECT received_at, lag(received_at) OVER (ORDER BY received_at) AS prev
      FROM telemetry_ingestbatch
     WHERE site_id = %(site)s AND received_at >= %(look)s AND received_at < %(until)s
)
SELECT greatest(prev, %(look)s) + %(stale)s * interval '1 second', received_at FROM r
 WHERE coalesce(received_at - prev, received_at - %(look)s) > %(stale)s * interval '1 second'
UNION ALL
SELECT coalesce(max(received_at), %(look)s) + %(stale)s * interval '1 second', %(until)s
  FROM r HAVING coalesce(max(received_at), %(look)s) + %(stale)s * interval '1 second' < %(until)s
ORDER BY 1
"""


def dark_file(pz: PackZip, ctx: BuildContext) -> int:
    """Collector dark periods of the site: no upload received for longer than TELEMETRY_STALE_SEC
    (the minutes the downtime definitions call unmeasured). Returns how many."""
    stale = settings.TELEMETRY_STALE_SEC
    params = {"site": ctx.site.pk, "look": ctx.start - dt.timedelta(seconds=stale), "until": ctx.until, "stale": stale}
    count = 0
    with pz.csv("timeline/collector_dark.csv", ["dark_from", "dark_to", "minutes"]) as out:
        for start, stop in stream_sql(_DARK_SQL, params, name="evidence_dark"):
            start = max(start, ctx.start)
            if stop > start:
                out.row([ts(start), ts(stop), round((stop - start).total_seconds() / 60.0, 1)])
                count += 1
    return count


_COVERAGE_SQL = """
SELECT h.hour, count(b.id), count(DISTINCT date_trunc('minute', b.received_at)), min(b.received_at), max(b.received_at)
  FROM generate_series(date_trunc('hour', %(start)s::timestamptz), %(until)s::timestamptz - interval '1 microsecond',
                       interval '1 hour') AS h(hour)
  LEFT JOIN telemetry_ingestbatch b
    ON b.site_id = %(site)s AND b.received_at >= greatest(h.hour, %(start)s)
   AND b.received_at < least(h.hour + interval '1 hour', %(until)s)
 GROUP BY h.hour ORDER BY h.hour
"""


def coverage_file(pz: PackZip, ctx: BuildContext) -> None:
    """Per hour: uploads received from the site's collectors and the minutes that had one."""
    params = {"site": ctx.site.pk, "start": ctx.start, "until": ctx.until}
    header = ["hour", "uploads", "minutes_with_upload", "first_received_at", "last_received_at"]
    with pz.csv("coverage/uploads_hourly.csv", header) as out:
        if ctx.until <= ctx.start:
            return
        for hour, uploads, minutes, first, last in stream_sql(_COVERAGE_SQL, params, name="evidence_coverage"):
            out.row([ts(hour), uploads, minutes, ts(first), ts(last)])
