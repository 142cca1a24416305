"""Base class for every product ModelAdmin: rows and permissions come from tenants.scoping,
writes go through services (which audit them)."""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

from audit.services import Actor
from core.errors import DomainError
from tenants import scoping
from tenants.scoping import Capability


class ScopedModelAdmin(admin.ModelAdmin):
    #: scoping function (user, capability) -> queryset of this model
    scoped = None
    #: capability needed to add/change/delete
    manage_capability = Capability.MANAGE_INVENTORY
    #: adding needs the capability at all-sites scope (new sites, tenants)
    add_needs_everywhere = False
    #: foreign key name -> scoping function limiting its choices
    scoped_choices: dict = {}
    show_full_result_count = False

    def get_queryset(self, request):
        qs = type(self).scoped(request.user, Capability.VIEW)
        ordering = self.get_ordering(request)
        return qs.order_by(*ordering) if ordering else qs

    def _scope(self, request):
        return scoping.scope_for(request.user)

    def has_module_permission(self, request):
        return self._scope(request).is_operator

    def has_view_permission(self, request, obj=None):
        if not self._scope(request).is_operator:
            return False
        return obj is None or type(self).scoped(request.user, Capability.VIEW).filter(pk=obj.pk).exists()

    def has_add_permission(self, request, *args):
        scope = self._scope(request)
        if self.add_needs_everywhere:
            return scope.is_platform or self.manage_capability in scope.all_sites
        return scope.has(self.manage_capability)

    def has_change_permission(self, request, obj=None):
        if not self._scope(request).has(self.manage_capability):
            return False
        return obj is None or type(self).scoped(request.user, self.manage_capability).filter(pk=obj.pk).exists()

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Out of scope and missing look the same (SPEC §2): 403, so the answer leaks nothing.
        raise PermissionDenied

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        finder = self.scoped_choices.get(db_field.name)
        if finder is not None:
            kwargs["queryset"] = finder(request.user, self.manage_capability)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        finder = self.scoped_choices.get(db_field.name)
        if finder is not None:
            kwargs["queryset"] = finder(request.user, self.manage_capability)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def actor(self, request) -> Actor:
        return Actor.user(request.user)

    def save_model(self, request, obj, form, change):
        from tenants.services import inventory_save

        inventory_save(actor=self.actor(request), obj=obj, changed=list(form.changed_data) if change else None)

    def delete_model(self, request, obj):
        from tenants.services import inventory_delete

        try:
            inventory_delete(actor=self.actor(request), obj=obj)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class GrantPermissionsMixin:
    """Grants (role and object) are seen by holders of MANAGE_GRANTS through the admin's `scoped`,
    and created and revoked, never edited in place."""

    scoped: Any
    list_select_related: Any

    def get_queryset(self, request):
        return type(self).scoped(request.user).select_related(*self.list_select_related)

    def has_view_permission(self, request, obj=None):
        return scoping.scope_for(request.user).has(Capability.MANAGE_GRANTS) and (
            obj is None or type(self).scoped(request.user).filter(pk=obj.pk).exists()
        )

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyScopedAdmin(ScopedModelAdmin):
    """Append-only or derived tables: view only, no counting of huge tables."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """History shown under a scoped parent. The parent's page is already scoped, so viewing needs
    no Django model permission (operators have none); rows never change here."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return scoping.scope_for(request.user).is_operator

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
