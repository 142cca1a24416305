"""The NOC console's telemetry pages: live fleet state, upload receipts, tier history.

All read-only; rows come from telemetry.selectors (which asks tenants.scoping). Built for a
5,000-miner site: no full counts, joins instead of per-row queries, filters that query once."""

import abc
import datetime as dt

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from core.errors import InvalidParameter
from telemetry import selectors, selectors_history
from telemetry.admin_quarantine import CollectorKeysAdmin, QuarantinedBatchAdmin
from telemetry.models import IngestBatch, TelemetryLive
from tenants import scoping
from tenants.admin_base import ReadOnlyScopedAdmin

Related = admin.RelatedOnlyFieldListFilter


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [(s, s) for s in selectors.STATES]

    def queryset(self, request, queryset):
        return queryset.filter(state=self.value()) if self.value() in selectors.STATES else queryset


class TemperatureAboveFilter(admin.SimpleListFilter):
    """temperature_max at or above X; the links offer common thresholds, any number works in the URL."""

    title = "temperature max ≥"
    parameter_name = "temp_gte"

    def lookups(self, request, model_admin):
        return [(str(t), f"{t} °C") for t in (60, 70, 80, 90)]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        try:
            return queryset.filter(temperature_max__gte=float(self.value()))
        except ValueError as exc:
            raise IncorrectLookupParameters(exc) from exc


class _ScopedChoiceFilter(admin.SimpleListFilter, abc.ABC):
    """Choices labelled "<site>/<name>" from one query (RelatedOnlyFieldListFilter would load each
    choice's site separately), limited to what the user may see."""

    lookup = ""

    @abc.abstractmethod
    def choices_qs(self, request):
        """(pk, site code, name) rows of the choices the user may see."""

    def lookups(self, request, model_admin):
        return [(str(pk), f"{site}/{name}") for pk, site, name in self.choices_qs(request)]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        if not self.value().isdigit():
            raise IncorrectLookupParameters(self.value())
        return queryset.filter(**{self.lookup: int(self.value())})


class ZoneFilter(_ScopedChoiceFilter):
    title = "zone"
    parameter_name = "zone"
    lookup = "miner__zone_id"

    def choices_qs(self, request):
        return scoping.zones_for(request.user).order_by("site__code", "code").values_list("pk", "site__code", "code")


class CollectorFilter(_ScopedChoiceFilter):
    title = "collector"
    parameter_name = "collector"
    lookup = "collector_id"

    def choices_qs(self, request):
        return (
            scoping.collectors_for(request.user).order_by("site__code", "name").values_list("pk", "site__code", "name")
        )


class HasRejectionsFilter(admin.SimpleListFilter):
    title = "rejections"
    parameter_name = "rejected"

    def lookups(self, request, model_admin):
        return [("yes", "some records rejected"), ("no", "none rejected")]

    def queryset(self, request, queryset):
        return {"yes": queryset.filter(rejected__gt=0), "no": queryset.filter(rejected=0)}.get(self.value(), queryset)


@admin.register(TelemetryLive)
class TelemetryLiveAdmin(ReadOnlyScopedAdmin):
    scoped = selectors.live_rows_for
    list_display = (
        "miner_link",
        "site",
        "zone_code",
        "tenant",
        "state_badge",
        "ts",
        "hashrate_5s_ghs",
        "temperature_max",
        "error_message",
        "history_link",
    )
    list_display_links = None
    list_filter = (StateFilter, ("site", Related), ZoneFilter, ("tenant", Related), TemperatureAboveFilter)
    list_select_related = ("miner__site", "miner__zone", "site", "tenant")
    ordering = ("miner__site__code", "miner__miner_id")
    search_fields = ("=miner__miner_id",)
    list_per_page = 100

    def get_queryset(self, request):
        # The changelist and each related filter ask for the queryset: find coverage once per request.
        if not hasattr(request, "_hi_live_rows"):
            request._hi_live_rows = super().get_queryset(request)
        return request._hi_live_rows.all()

    @admin.display(description="miner", ordering="miner__miner_id")
    def miner_link(self, obj):
        url = reverse("admin:telemetry_telemetrylive_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.miner.miner_id)

    @admin.display(description="zone", ordering="miner__zone__code")
    def zone_code(self, obj):
        return obj.miner.zone.code if obj.miner.zone_id else "—"

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        colour = {"online": "#2e7d32", "offline": "#c62828"}.get(obj.state, "#757575")
        return format_html('<b style="color:{}">{}</b>', colour, obj.state)

    @admin.display(description="history")
    def history_link(self, obj):
        return format_html('<a href="{}?miner={}&amp;tier=1m">1m</a>', reverse("admin:telemetry_history"), obj.pk)

    def get_urls(self):
        # Before the model's own URLs: "history/" must not be read as an object id.
        return [
            path("history/", self.admin_site.admin_view(self.tier_history_view), name="telemetry_history"),
            *super().get_urls(),
        ]

    def tier_history_view(self, request):
        """Tier history of one miner (raw and 1m are partitioned, composite-key tables the admin
        cannot list): read-only, scoped like everything else — out of scope or missing: 403."""
        form = HistoryForm(request.GET)
        form.is_valid()
        d = form.cleaned_data
        miner = None
        if "miner" in d:
            miner = scoping.miners_for(request.user).select_related("site").filter(pk=d["miner"]).first()
        if miner is None:
            raise PermissionDenied  # out of scope, missing or malformed: the same answer
        tier = d.get("tier") or "1m"
        end = timezone.now()
        hours = d.get("hours") or selectors_history.DEFAULT_RANGE[tier] / dt.timedelta(hours=1)
        points, error, start = [], "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()), end
        if not error:
            try:
                start, end = selectors_history.history_range(
                    tier, per_site=False, start=end - dt.timedelta(hours=hours), end=end
                )
                points = selectors_history.history(request.user, tier=tier, start=start, end=end, miner=miner)
            except InvalidParameter as exc:
                error = exc.message
        columns = list(points[0]) if points else []
        context = {
            **self.admin_site.each_context(request),
            "title": f"History of {miner} ({tier})",
            "opts": self.model._meta,
            "miner": miner,
            "tier": tier,
            "tiers": list(selectors_history.TIERS),
            "start": start,
            "end": end,
            "error": error,
            "columns": columns,
            "rows": [[p[c] for c in columns] for p in points],
        }
        return TemplateResponse(request, "admin/telemetry/history.html", context)


class HistoryForm(forms.Form):
    miner = forms.IntegerField(min_value=1, max_value=2**63 - 1)
    tier = forms.ChoiceField(choices=[(t, t) for t in selectors_history.TIERS], required=False)
    hours = forms.FloatField(min_value=0.01, required=False)


@admin.register(IngestBatch)
class IngestBatchAdmin(ReadOnlyScopedAdmin):
    """Upload receipts: what each collector sent and what became of it (SPEC §5)."""

    scoped = selectors.ingest_batches_for
    list_display = (
        "received_at",
        "site",
        "collector_name",
        "device_id",
        "endpoint",
        "mode",
        "record_count",
        "accepted",
        "rejected",
        "duplicates",
        "unknown_registered",
        "first_reason",
        "duration_ms",
    )
    list_filter = (("site", Related), CollectorFilter, HasRejectionsFilter, "endpoint")
    list_select_related = ("site", "collector")
    ordering = ("-received_at",)
    search_fields = ("=body_sha256", "=device_id")
    list_per_page = 100

    @admin.display(description="collector", ordering="collector__name")
    def collector_name(self, obj):
        return obj.collector.name

    @admin.display(description="first reason")
    def first_reason(self, obj):
        reasons = obj.first_reasons or []
        return str(reasons[0])[:120] if reasons else ""


# Quarantined uploads and the collector page's payload key are registered by telemetry.admin_quarantine.
__all__ = ["CollectorKeysAdmin", "IngestBatchAdmin", "QuarantinedBatchAdmin", "TelemetryLiveAdmin"]
