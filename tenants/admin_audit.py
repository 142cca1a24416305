from django.contrib import admin

from audit.models import AuditCheckpoint
from tenants import scoping
from tenants.admin_base import ReadOnlyScopedAdmin


# The event table is huge and append-only: filters take their choices from the small scoped
# tables (or fixed lists), never from a DISTINCT scan of the events.
class SiteFilter(admin.SimpleListFilter):
    title = "site"
    parameter_name = "site_code"

    def lookups(self, request, model_admin):
        return [(code, code) for code in scoping.sites_for(request.user).values_list("code", flat=True)]

    def queryset(self, request, queryset):
        return queryset.filter(site_code=self.value()) if self.value() else queryset


class TenantFilter(admin.SimpleListFilter):
    title = "tenant"
    parameter_name = "tenant_id"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in scoping.tenants_for(request.user).values_list("pk", "name")]

    def queryset(self, request, queryset):
        return queryset.filter(tenant_id=self.value()) if self.value() else queryset


class ActorTypeFilter(admin.SimpleListFilter):
    title = "actor"
    parameter_name = "actor_type"

    def lookups(self, request, model_admin):
        return [("user", "user"), ("collector", "collector"), ("system", "system")]

    def queryset(self, request, queryset):
        return queryset.filter(actor_type=self.value()) if self.value() else queryset


PRODUCT_APPS = ("tenants", "telemetry", "control", "hosting", "audit", "auth")


class EntityTypeFilter(admin.SimpleListFilter):
    """Entity types are '<app>.<model>' of the product's models: a fixed list from the app registry."""

    title = "entity"
    parameter_name = "entity_type"

    def lookups(self, request, model_admin):
        from django.apps import apps

        names = sorted(
            f"{m._meta.app_label}.{m._meta.model_name}" for m in apps.get_models() if m._meta.app_label in PRODUCT_APPS
        )
        return [(n, n) for n in names] + [("audit.chain", "audit.chain")]

    def queryset(self, request, queryset):
        return queryset.filter(entity_type=self.value()) if self.value() else queryset


class ActionAreaFilter(admin.SimpleListFilter):
    """The first part of the dotted action code (tenants.*, control.*, …): an indexed prefix match."""

    title = "action"
    parameter_name = "action_area"

    def lookups(self, request, model_admin):
        return [(f"{app}.", f"{app}.*") for app in PRODUCT_APPS if app != "auth"]

    def queryset(self, request, queryset):
        return queryset.filter(action__startswith=self.value()) if self.value() else queryset


class AuditEventAdmin(ReadOnlyScopedAdmin):
    list_display = (
        "occurred_at",
        "chain_key",
        "seq",
        "action",
        "entity_type",
        "entity_id",
        "actor_label",
        "site_code",
        "tenant_id",
    )
    list_filter = (
        SiteFilter,
        TenantFilter,
        ActionAreaFilter,
        EntityTypeFilter,
        ActorTypeFilter,
        ("occurred_at", admin.DateFieldListFilter),
    )
    search_fields = ("action", "entity_id", "actor_label")
    ordering = ("-occurred_at", "-id")
    list_per_page = 100

    @staticmethod
    def scoped(user, capability):
        return scoping.audit_events_for(user)


class AuditCheckpointAdmin(ReadOnlyScopedAdmin):
    list_display = (
        "chain_key",
        "period_start",
        "first_seq",
        "last_seq",
        "event_count",
        "last_hash",
        "sealed_at",
        "purged_at",
    )
    list_filter = ("chain_key",)

    @staticmethod
    def scoped(user, capability):
        scope = scoping.scope_for(user)
        if scope.is_platform or capability in scope.all_sites:
            return AuditCheckpoint.objects.all()
        return AuditCheckpoint.objects.none()
