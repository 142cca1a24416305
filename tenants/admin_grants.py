"""Admin of object grants (docs/SECURITY.md "Object grants"): created and revoked through
tenants.object_grants (audited), never edited; the user picker lists only the users of the
manager's own sites and tenants (tenants.scoping.grantable_users_for)."""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from core.errors import DomainError
from tenants import scoping
from tenants.admin_base import GrantPermissionsMixin, ScopedModelAdmin
from tenants.models import ObjectGrant
from tenants.object_grants import object_grant_create, object_grant_revoke, object_grant_shape_check
from tenants.scoping import Capability


class ObjectGrantForm(forms.ModelForm):
    acting_user = None  # set per request by ObjectGrantAdmin.get_form

    class Meta:
        model = ObjectGrant
        fields = ("user", "role", "zone", "miner_group", "tenant", "expires_at", "reason")

    def clean(self):
        data = super().clean()
        target = {k: data.get(k) for k in ("role", "zone", "miner_group", "tenant")}
        if not target["role"]:
            return data
        try:
            object_grant_shape_check(**target)
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc
        if not scoping.can_object_grant(self.acting_user, **target):
            raise forms.ValidationError("You may grant only within your own scope.")
        expires_at = data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError({"expires_at": "The expiry is in the past."})
        return data


@admin.register(ObjectGrant)
class ObjectGrantAdmin(GrantPermissionsMixin, ScopedModelAdmin):
    scoped = scoping.object_grants_for
    manage_capability = Capability.MANAGE_GRANTS
    scoped_choices = {
        "user": scoping.grantable_users_for,
        "zone": scoping.zones_for,
        "miner_group": scoping.miner_groups_for,
        "tenant": scoping.tenants_for,
    }
    list_display = ("user", "role", "zone", "miner_group", "tenant", "expires_at", "state", "granted_by", "granted_at")
    list_filter = ("role",)
    list_select_related = ("user", "zone__site", "miner_group__site", "tenant", "granted_by")
    actions = ["revoke"]

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = ObjectGrantForm
        form = super().get_form(request, obj, **kwargs)
        form.acting_user = request.user
        return form

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return (*ObjectGrantForm.Meta.fields, "granted_by", "granted_at", "revoked_at", "revoked_by", "expired_at")
        return ()

    def has_delete_permission(self, request, obj=None):
        # Revocation keeps the row (revoked_at): the "revoke" action, not delete.
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not scoping.scope_for(request.user).has(Capability.MANAGE_GRANTS):
            actions.pop("revoke", None)
        return actions

    @admin.action(description="Revoke the selected object grants")
    def revoke(self, request, queryset):
        allowed = queryset.filter(pk__in=scoping.object_grants_for(request.user).values("pk"))
        n = 0
        for grant in allowed:
            object_grant_revoke(actor=self.actor(request), grant=grant, revoked_by=request.user)
            n += 1
        self.message_user(request, f"{n} object grant(s) revoked.")

    def save_model(self, request, obj, form, change):
        try:
            grant = object_grant_create(
                actor=self.actor(request),
                granted_by=request.user,
                user=obj.user,
                role=obj.role,
                zone=obj.zone,
                miner_group=obj.miner_group,
                tenant=obj.tenant,
                expires_at=obj.expires_at,
                reason=obj.reason,
            )
        except DomainError as exc:
            self.message_user(request, f"{exc.error_code}: {exc.message}", messages.ERROR)
            return
        obj.pk = grant.pk
