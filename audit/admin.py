from django.contrib import admin

from audit.models import AuditCheckpoint, AuditEvent
from hashinsight.admin_base import ReadOnlyScopedAdmin
from tenants import scoping


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyScopedAdmin):
    list_display = ("occurred_at", "chain_key", "seq", "action", "entity_type", "entity_id", "actor_label", "site_code", "tenant_id")
    list_filter = ("chain_key", "site_code", "actor_type", "entity_type", ("occurred_at", admin.DateFieldListFilter))
    search_fields = ("action", "entity_id", "actor_label")
    date_hierarchy = "occurred_at"
    ordering = ("-occurred_at", "-id")
    list_per_page = 100

    @staticmethod
    def scoped(user, capability):
        return scoping.audit_events_for(user)


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyScopedAdmin):
    list_display = ("chain_key", "period_start", "first_seq", "last_seq", "event_count", "last_hash", "sealed_at", "purged_at")
    list_filter = ("chain_key",)

    @staticmethod
    def scoped(user, capability):
        scope = scoping.scope_for(user)
        if scope.is_platform or capability in scope.all_sites:
            return AuditCheckpoint.objects.all()
        return AuditCheckpoint.objects.none()
