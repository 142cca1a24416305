"""The admin's Collector status (SPEC §4.1, §5): per collector in the operator's scope, what to
check first when a site looks dark — last upload, last poll, receipts and rejected records of the
last hour, unknown ACKs — and on its page the devices and versions it was seen with, the rejected
records by error_code and a link to its unknown ACKs with their bodies.

The list's figures are correlated subqueries per row of the page, each over an index led by the
collector (ingest_collector_time_idx, ack_unknown_idx): the page costs the same few queries
however long the collector's history, and one Redis MGET for the exact last polls
(tenants.collector_last_poll)."""

import datetime as dt

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Count, IntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from control.models import CollectorStatus, CommandAck
from control.selectors_collector_status import collector_status_get
from telemetry.models import IngestBatch
from telemetry.selectors import stale_cutoff
from telemetry.selectors_collectors import WINDOW
from tenants import scoping
from tenants.admin_base import ReadOnlyScopedAdmin
from tenants.collector_last_poll import last_poll_many

Related = admin.RelatedOnlyFieldListFilter
_DEVICE_COLUMNS = ("device", "tokens", "first seen", "last seen", "User-Agent", "version")


def _scalar(qs, expression, name: str):
    return Subquery(qs.order_by().values("collector").annotate(**{name: expression}).values(name)[:1])


def unknown_acks_url(collector_id: int) -> str:
    """The ACK evidence list of one collector's unknown ACKs (each with its body)."""
    url = reverse("admin:control_commandack_changelist")
    return f"{url}?collector__id__exact={collector_id}&disposition__exact={CommandAck.Disposition.UNKNOWN}"


class _StatusChangeList(ChangeList):
    """The page's collectors with each one's exact last poll: one Redis MGET for the page."""

    def get_results(self, request):
        super().get_results(request)
        polls = last_poll_many({c.pk: c.last_poll_at for c in self.result_list})
        for c in self.result_list:
            c.last_poll_exact = polls[c.pk]


@admin.register(CollectorStatus)
class CollectorStatusAdmin(ReadOnlyScopedAdmin):
    scoped = scoping.collectors_for
    list_display = (
        "name",
        "site",
        "zone",
        "online",
        "last_upload",
        "last_poll",
        "uploads_last_hour",
        "rejected_last_hour",
        "unknown_acks_last_hour",
    )
    list_filter = (("site", Related), "is_active")
    list_select_related = ("site", "zone__site")
    search_fields = ("name",)
    fields = readonly_fields = (
        "name",
        "site",
        "zone",
        "is_active",
        "summary",
        "unknown_acks",
        "rejected_reasons",
        "devices",
        "versions",
    )

    def get_queryset(self, request):
        since = timezone.now() - WINDOW
        batches = IngestBatch.objects.filter(collector=OuterRef("pk"))
        recent = batches.filter(received_at__gte=since)
        unknown = CommandAck.objects.filter(
            collector=OuterRef("pk"), disposition=CommandAck.Disposition.UNKNOWN, received_at__gte=since
        )
        zero = IntegerField()
        return (
            super()
            .get_queryset(request)
            .annotate(
                newest_upload=Subquery(batches.order_by("-received_at").values("received_at")[:1]),
                uploads_1h=Coalesce(_scalar(recent, Count("pk"), "n"), 0, output_field=zero),
                rejected_1h=Coalesce(_scalar(recent, Sum("rejected"), "n"), 0, output_field=zero),
                unknown_1h=Coalesce(_scalar(unknown, Count("pk"), "n"), 0, output_field=zero),
            )
        )

    @admin.display(boolean=True, description="online")
    def online(self, obj) -> bool:
        return obj.newest_upload is not None and obj.newest_upload >= stale_cutoff()

    @admin.display(description="last upload", ordering="newest_upload")
    def last_upload(self, obj) -> dt.datetime | None:
        return obj.newest_upload

    def get_changelist(self, request, **kwargs):
        return _StatusChangeList

    @admin.display(description="last poll", ordering="last_poll_at")
    def last_poll(self, obj) -> dt.datetime | None:
        return getattr(obj, "last_poll_exact", obj.last_poll_at)

    @admin.display(description="uploads (1 h)", ordering="uploads_1h")
    def uploads_last_hour(self, obj) -> int:
        return obj.uploads_1h

    @admin.display(description="rejected records (1 h)", ordering="rejected_1h")
    def rejected_last_hour(self, obj) -> int:
        return obj.rejected_1h

    @admin.display(description="unknown ACKs (1 h)", ordering="unknown_1h")
    def unknown_acks_last_hour(self, obj):
        if not obj.unknown_1h:
            return 0
        return format_html('<a href="{}">{}</a>', unknown_acks_url(obj.pk), obj.unknown_1h)

    # --- the change page: one collector_status_get per page, kept on the row -----------------------

    @staticmethod
    def _status(obj) -> dict:
        if not hasattr(obj, "_status_figures"):
            obj._status_figures = collector_status_get(obj)
        return obj._status_figures

    @admin.display(description="status")
    def summary(self, obj):
        s = self._status(obj)
        u = s["uploads_last_hour"]
        channels = ", ".join(f"{k}: {n}" for k, n in sorted(u["channels"].items())) or "none"
        rows = [
            ("online (uploaded within TELEMETRY_STALE_SEC)", "yes" if s["online"] else "no"),
            ("last upload", s["last_upload"] or "never"),
            ("last poll", s["last_poll"] or "never"),
            ("uploads (last hour)", f"{u['uploads']} ({channels})"),
            (
                "records (last hour)",
                f"{u['records']}: {u['accepted']} accepted, {u['rejected']} rejected, {u['duplicates']} duplicates",
            ),
            ("encrypted uploads held (quarantine)", s["quarantined"]),
        ]
        return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))

    @admin.display(description="unknown ACKs")
    def unknown_acks(self, obj):
        a = self._status(obj)["unknown_acks"]
        if a["last_at"] is None:
            return "none: every ACK it sent named a command its site was handed"
        return format_html(
            '{} in the last hour; newest {} (command id {}). <a href="{}">List them with their bodies</a>',
            a["last_hour"],
            a["last_at"],
            a["last_wire_id"],
            unknown_acks_url(obj.pk),
        )

    @admin.display(description="rejected records by error_code (last hour)")
    def rejected_reasons(self, obj):
        codes = self._status(obj)["rejected_reasons_last_hour"]
        if not codes:
            return "none"
        return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", codes.items()))

    @admin.display(description="devices seen")
    def devices(self, obj):
        rows = [
            (
                d["device_id"],
                ", ".join(d["token_prefixes"]),
                d["first_seen"],
                d["last_seen"],
                d["user_agent"],
                d["version"],
            )
            for d in self._status(obj)["devices"]
        ]
        if not rows:
            return "none"
        head = format_html_join("", "<th>{}</th>", ((c,) for c in _DEVICE_COLUMNS))
        body = format_html_join("", "<tr>" + "<td>{}</td>" * len(_DEVICE_COLUMNS) + "</tr>", rows)
        return format_html("<table><tr>{}</tr>{}</table>", head, body)

    @admin.display(description="versions seen")
    def versions(self, obj):
        rows = [
            (v["user_agent"] or "—", v["version"] or "—", v["devices"], v["last_seen"])
            for v in self._status(obj)["versions"]
        ]
        if not rows:
            return "none"
        return format_html(
            "<table><tr><th>User-Agent</th><th>version</th><th>devices</th><th>last seen</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )
