"""A collector's status (GET /api/collector/status, the admin's Collector status page): the
telemetry figures (telemetry.selectors_collectors) and its unknown ACKs — ACKs for command ids
its site was never handed (SPEC §4.1), kept as evidence, answered 200 and counted here.

Callers pass collector ids they have scoped; the ACK figures are one statement over
ack_unknown_idx (collector, received_at WHERE disposition = 'unknown')."""

import datetime as dt

from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone

from control.models import CommandAck
from telemetry.selectors_collectors import WINDOW, collector_health_list
from tenants.models import Collector

UNKNOWN = CommandAck.Disposition.UNKNOWN


def unknown_ack_figures(collector_ids, *, now: dt.datetime | None = None) -> dict[int, dict]:
    """Per collector id: unknown ACKs of the last hour, and the newest one ever (when, which id)."""
    ids = list(collector_ids)
    if not ids:
        return {}
    since = (now or timezone.now()) - WINDOW
    newest = CommandAck.objects.filter(collector=OuterRef("pk"), disposition=UNKNOWN).order_by("-received_at")
    recent = (
        CommandAck.objects.filter(collector=OuterRef("pk"), disposition=UNKNOWN, received_at__gte=since)
        .order_by()
        .values("collector")
        .annotate(n=Count("pk"))
        .values("n")
    )
    rows = Collector.objects.filter(pk__in=ids).annotate(
        last_hour=Subquery(recent),
        last_at=Subquery(newest.values("received_at")[:1]),
        last_wire_id=Subquery(newest.values("wire_id")[:1]),
    )
    return {
        r["pk"]: {"last_hour": r["last_hour"] or 0, "last_at": r["last_at"], "last_wire_id": r["last_wire_id"]}
        for r in rows.values("pk", "last_hour", "last_at", "last_wire_id")
    }


def collector_status_list(collector_ids, *, now: dt.datetime | None = None) -> dict[int, dict]:
    """Per collector id: collector_health_list's figures plus `unknown_acks`. Six statements."""
    now = now or timezone.now()
    ids = list(collector_ids)
    health = collector_health_list(ids, now=now)
    acks = unknown_ack_figures(ids, now=now)
    for pk, figures in health.items():
        figures["unknown_acks"] = acks.get(pk, {"last_hour": 0, "last_at": None, "last_wire_id": None})
    return health


def collector_status_get(collector: Collector, *, now: dt.datetime | None = None) -> dict:
    return collector_status_list([collector.pk], now=now)[collector.pk]
