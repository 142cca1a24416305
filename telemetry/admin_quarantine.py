"""The console's side of encrypted envelopes: held (quarantined) uploads, and on the collector's
page its payload key (fingerprint only) and how many of its uploads are held, with the actions
that register (generate, shown once) or clear the key — through telemetry.payload_keys."""

from django.contrib import admin, messages
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils.html import format_html

from core.errors import DomainError
from telemetry import selectors
from telemetry.models import CollectorPayloadKey, QuarantinedBatch, QuarantineStatus
from telemetry.payload_keys import payload_key_clear, payload_key_generate
from telemetry.quarantine import quarantine_discard
from tenants import scoping
from tenants.admin import CollectorAdmin
from tenants.admin_base import ReadOnlyScopedAdmin
from tenants.models import Collector
from tenants.scoping import Capability

Related = admin.RelatedOnlyFieldListFilter


@admin.register(QuarantinedBatch)
class QuarantinedBatchAdmin(ReadOnlyScopedAdmin):
    """Encrypted uploads held until their collector's key opens them (telemetry.quarantine)."""

    scoped = selectors.quarantined_batches_for
    list_display = (
        "received_at",
        "site",
        "collector",
        "status",
        "reason",
        "detail",
        "body_bytes",
        "attempts",
        "processed_at",
        "ingest_batch",
    )
    list_filter = ("status", "reason", ("site", Related))
    list_select_related = ("site", "collector__site", "ingest_batch")
    ordering = ("-received_at",)
    search_fields = ("=body_sha256", "=device_id")
    exclude = ("body",)
    list_per_page = 100
    actions = ["discard"]

    def has_manage_tokens_permission(self, request):
        return self._scope(request).has(Capability.MANAGE_TOKENS)

    @admin.action(description="Discard selected held uploads (audited)", permissions=["manage_tokens"])
    def discard(self, request, queryset):
        allowed = selectors.quarantined_batches_for(request.user, Capability.MANAGE_TOKENS)
        n = quarantine_discard(actor=self.actor(request), batches=list(queryset.filter(pk__in=allowed.values("pk"))))
        self.message_user(request, f"{n} held upload(s) discarded.")


class CollectorKeysAdmin(CollectorAdmin):
    """tenants' collector page plus its payload key and held uploads (telemetry's, so defined here)."""

    list_display = (*CollectorAdmin.list_display, "payload_key", "quarantined")
    readonly_fields = ("payload_key", "quarantined")
    actions = [*CollectorAdmin.actions, "generate_payload_key", "clear_payload_key"]

    def get_queryset(self, request):
        held = (
            QuarantinedBatch.objects.filter(collector=OuterRef("pk"))
            .exclude(status=QuarantineStatus.DONE)
            .order_by()
            .values("collector")
            .annotate(n=Count("pk"))
            .values("n")
        )
        key = CollectorPayloadKey.objects.filter(collector=OuterRef("pk")).values("fingerprint")
        return (
            super()
            .get_queryset(request)
            .annotate(quarantined_count=Coalesce(Subquery(held), 0), payload_key_fp=Subquery(key))
        )

    @admin.display(description="payload key")
    def payload_key(self, obj):
        return getattr(obj, "payload_key_fp", None) or "—"

    @admin.display(description="quarantined uploads", ordering="quarantined_count")
    def quarantined(self, obj):
        n = getattr(obj, "quarantined_count", 0) or 0
        if not n:
            return 0
        return format_html('<b style="color:#c62828">{}</b>', n)

    @admin.action(description="Generate a new payload key (shown once)", permissions=["manage_tokens"])
    def generate_payload_key(self, request, queryset):
        allowed = scoping.collectors_for(request.user, Capability.MANAGE_TOKENS)
        for collector in queryset.filter(pk__in=allowed.values("pk")).select_related("site"):
            try:
                row, key_hex = payload_key_generate(
                    actor=self.actor(request), collector=collector, changed_by=request.user
                )
            except DomainError as exc:
                self.message_user(request, f"{collector}: {exc.message}", messages.ERROR)
                continue
            self.message_user(
                request,
                format_html(
                    "Payload key of {} (fingerprint {}): <code>{}</code> — set it as PICKAXE_LOCAL_KEY on "
                    "the collector now, it is shown only once.",
                    collector,
                    row.fingerprint,
                    key_hex,
                ),
                messages.WARNING,
            )

    @admin.action(description="Clear the payload key", permissions=["manage_tokens"])
    def clear_payload_key(self, request, queryset):
        allowed = scoping.collectors_for(request.user, Capability.MANAGE_TOKENS)
        n = sum(
            payload_key_clear(actor=self.actor(request), collector=c)
            for c in queryset.filter(pk__in=allowed.values("pk")).select_related("site")
        )
        self.message_user(request, f"Payload key cleared for {n} collector(s).")


admin.site.unregister(Collector)
admin.site.register(Collector, CollectorKeysAdmin)
