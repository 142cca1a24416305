from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Max, OuterRef, Subquery
from django.template.response import TemplateResponse
from django.utils.html import format_html

from audit.models import AuditCheckpoint, AuditEvent
from core.errors import DomainError
from tenants import scoping
from tenants.admin_audit import AuditCheckpointAdmin, AuditEventAdmin
from tenants.admin_base import GrantPermissionsMixin, ReadOnlyInline, ReadOnlyScopedAdmin, ScopedModelAdmin
from tenants.invitations import invitation_create
from tenants.lockout import login_unlock
from tenants.models import (
    Collector,
    CollectorDevice,
    CollectorToken,
    Invitation,
    Miner,
    MinerGroup,
    MinerOwnership,
    RoleGrant,
    Site,
    SiteAlias,
    Tenant,
    Zone,
)
from tenants.scoping import Capability
from tenants.services import (
    collector_token_create,
    collector_token_revoke,
    collector_token_rotate,
    grant_shape_check,
    miner_assign_owner,
    role_grant_create,
    role_grant_revoke,
)
from tenants.site_identity import site_alias_add, site_alias_remove, site_name_taken

# Filter choices come from the scoped changelist rows, so a NOC never sees other sites' or tenants' names.
Related = admin.RelatedOnlyFieldListFilter


@admin.register(Tenant)
class TenantAdmin(ScopedModelAdmin):
    scoped = scoping.tenants_for
    add_needs_everywhere = True
    list_display = ("name", "slug", "is_operator", "created_at")
    search_fields = ("name", "slug")


class ZoneInline(ReadOnlyInline):
    model = Zone
    fields = ("code", "name")
    readonly_fields = ("code", "name")
    show_change_link = True


class SiteAliasForm(forms.ModelForm):
    """A new alias is checked here (SITE_ALIAS_TAKEN shows on the row); a saved one only goes away."""

    class Meta:
        model = SiteAlias
        fields = ("value", "kind", "note")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for f in self.fields.values():
                f.disabled = True

    def clean_value(self):
        value = self.cleaned_data["value"].strip()
        if not self.instance.pk:
            site = self.instance.site if self.instance.site_id else None
            reason = "it is this site's code" if site and value == site.code else site_name_taken(value, site=site)
            if reason:
                raise forms.ValidationError(f"SITE_ALIAS_TAKEN: {reason}")
        return value


class SiteAliasInline(admin.TabularInline):
    """The site's aliases; rows are added and removed through the audited services (SiteAdmin.save_formset)."""

    model = SiteAlias
    form = SiteAliasForm
    extra = 0
    readonly_fields = ("created_at", "created_by")

    def _may(self, request, obj):
        if obj is None:
            return scoping.scope_for(request.user).has(Capability.MANAGE_INVENTORY)
        return scoping.sites_for(request.user, Capability.MANAGE_INVENTORY).filter(pk=obj.pk).exists()

    def has_view_permission(self, request, obj=None):
        return scoping.scope_for(request.user).is_operator

    def has_add_permission(self, request, obj=None):
        return self._may(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._may(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may(request, obj)


@admin.register(Site)
class SiteAdmin(ScopedModelAdmin):
    scoped = scoping.sites_for
    add_needs_everywhere = True
    list_display = ("code", "name", "timezone", "created_at")
    search_fields = ("code", "name", "aliases__value")
    inlines = [ZoneInline, SiteAliasInline]

    def get_readonly_fields(self, request, obj=None):
        # Site.code is the collector-facing id: fixed once the site exists.
        return ("code",) if obj else ()

    def save_formset(self, request, form, formset, change):
        if formset.model is not SiteAlias:
            return super().save_formset(request, form, formset, change)
        site, actor = form.instance, self.actor(request)
        # What the admin's change message reads from a formset it saved itself.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        try:
            for f in formset.deleted_forms:
                if f.instance.pk:
                    site_alias_remove(actor=actor, alias=f.instance)
                    formset.deleted_objects.append(f.instance)
            for f in formset.forms:
                if f in formset.deleted_forms or f.instance.pk or not f.has_changed():
                    continue
                data = f.cleaned_data
                alias = site_alias_add(
                    actor=actor,
                    site=site,
                    value=data["value"],
                    kind=data["kind"],
                    note=data.get("note", ""),
                    created_by=request.user,
                )
                formset.new_objects.append(alias)
        except DomainError as exc:
            self.message_user(request, f"{exc.error_code}: {exc.message}", messages.ERROR)


@admin.register(SiteAlias)
class SiteAliasAdmin(ReadOnlyScopedAdmin):
    """Every alias in scope, to find which site a collector's site_id names; edited on the site's page."""

    scoped = scoping.site_aliases_for
    list_display = ("value", "site", "kind", "note", "created_at", "created_by")
    list_filter = ("kind", ("site", Related))
    list_select_related = ("site", "created_by")
    search_fields = ("value", "site__code")


@admin.register(Zone)
class ZoneAdmin(ScopedModelAdmin):
    scoped = scoping.zones_for
    scoped_choices = {"site": scoping.sites_for}
    list_display = ("code", "site", "name")
    list_filter = (("site", Related),)
    list_select_related = ("site",)


class TokenCreatedMixin:
    def _show_token_once(self, request, token, plaintext):
        self.message_user(
            request,
            format_html(
                "New token for {}: <code>{}</code> — copy it now, it is shown only once.", token.collector, plaintext
            ),
            messages.WARNING,
        )


@admin.register(Collector)
class CollectorAdmin(TokenCreatedMixin, ScopedModelAdmin):
    scoped = scoping.collectors_for
    scoped_choices = {"site": scoping.sites_for, "zone": scoping.zones_for}
    list_display = ("name", "site", "zone", "is_active", "last_seen", "created_at")
    list_filter = (("site", Related), "is_active")
    list_select_related = ("site", "zone__site")
    actions = ["create_token"]

    def get_queryset(self, request):
        # Last seen = the newest last_used_at of its tokens, in the same query as the rows.
        tokens = CollectorToken.objects.filter(collector=OuterRef("pk")).order_by().values("collector")
        return (
            super()
            .get_queryset(request)
            .annotate(last_seen_at=Subquery(tokens.annotate(at=Max("last_used_at")).values("at")))
        )

    @admin.display(description="last seen", ordering="last_seen_at")
    def last_seen(self, obj):
        return obj.last_seen_at

    def has_manage_tokens_permission(self, request):
        return self._scope(request).has(Capability.MANAGE_TOKENS)

    @admin.action(description="Create a new token (shown once)", permissions=["manage_tokens"])
    def create_token(self, request, queryset):
        allowed = scoping.collectors_for(request.user, Capability.MANAGE_TOKENS)
        for collector in queryset.filter(pk__in=allowed.values("pk")).select_related("site"):
            token, plaintext = collector_token_create(
                actor=self.actor(request), collector=collector, created_by=request.user, label="admin"
            )
            self._show_token_once(request, token, plaintext)


class CollectorDeviceInline(ReadOnlyInline):
    model = CollectorDevice
    readonly_fields = ("device_id", "first_seen_at", "last_seen_at")


@admin.register(CollectorToken)
class CollectorTokenAdmin(TokenCreatedMixin, ReadOnlyScopedAdmin):
    scoped = scoping.collector_tokens_for
    list_display = (
        "prefix",
        "collector",
        "kind",
        "label",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("kind", ("collector__site", Related))
    list_select_related = ("collector__site",)
    readonly_fields = (
        "collector",
        "prefix",
        "kind",
        "label",
        "created_at",
        "created_by",
        "expires_at",
        "revoked_at",
        "revoked_by",
        "last_used_at",
    )
    exclude = ("token_hash",)
    inlines = [CollectorDeviceInline]
    actions = ["revoke", "rotate"]

    def has_manage_tokens_permission(self, request):
        return self._scope(request).has(Capability.MANAGE_TOKENS)

    @admin.action(description="Revoke selected tokens", permissions=["manage_tokens"])
    def revoke(self, request, queryset):
        allowed = scoping.collector_tokens_for(request.user, Capability.MANAGE_TOKENS)
        n = 0
        for token in queryset.filter(pk__in=allowed.values("pk"), revoked_at__isnull=True):
            collector_token_revoke(actor=self.actor(request), token=token, revoked_by=request.user)
            n += 1
        self.message_user(request, f"{n} token(s) revoked.")

    @admin.action(
        description="Rotate: issue a new token (shown once); the old one expires after the grace period",
        permissions=["manage_tokens"],
    )
    def rotate(self, request, queryset):
        allowed = scoping.collector_tokens_for(request.user, Capability.MANAGE_TOKENS)
        for token in queryset.filter(pk__in=allowed.values("pk"), revoked_at__isnull=True):
            new, plaintext = collector_token_rotate(actor=self.actor(request), token=token, created_by=request.user)
            self._show_token_once(request, new, plaintext)


class OwnershipInline(ReadOnlyInline):
    model = MinerOwnership
    readonly_fields = ("tenant", "valid_from", "valid_to")


class AssignOwnerForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none())


@admin.register(Miner)
class MinerAdmin(ScopedModelAdmin):
    scoped = scoping.miners_for
    scoped_choices = {
        "site": scoping.sites_for,
        "zone": scoping.zones_for,
        "tenant": lambda user, cap: Tenant.objects.all(),
    }
    list_display = ("miner_id", "site", "zone", "tenant", "model", "nominal_hashrate_ths")
    list_filter = (("site", Related), ("tenant", Related), "model")
    list_select_related = ("site", "zone__site", "tenant")
    search_fields = ("miner_id", "miner_key")
    inlines = [OwnershipInline]
    actions = ["assign_owner"]

    def get_readonly_fields(self, request, obj=None):
        # Ownership changes only through "Assign to tenant", which keeps the history.
        return ("site", "miner_id", "tenant") if obj else ()

    @admin.action(description="Assign to tenant (ownership change)", permissions=["change"])
    def assign_owner(self, request, queryset):
        allowed = queryset.filter(pk__in=scoping.miners_for(request.user, Capability.MANAGE_INVENTORY).values("pk"))
        form = AssignOwnerForm(request.POST if "apply" in request.POST else None)
        form.fields["tenant"].queryset = Tenant.objects.all()
        if "apply" in request.POST and form.is_valid():
            n = miner_assign_owner(actor=self.actor(request), miners=list(allowed), tenant=form.cleaned_data["tenant"])
            self.message_user(request, f"{n} miner(s) assigned to {form.cleaned_data['tenant']}.")
            return None
        return TemplateResponse(
            request,
            "admin/tenants/assign_owner.html",
            {
                **self.admin_site.each_context(request),
                "title": "Assign miners to a tenant",
                "miners": allowed,
                "form": form,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )


@admin.register(MinerGroup)
class MinerGroupAdmin(ScopedModelAdmin):
    scoped = scoping.miner_groups_for
    scoped_choices = {"site": scoping.sites_for, "miners": scoping.miners_for}
    list_display = ("name", "site")
    list_select_related = ("site",)
    filter_horizontal = ("miners",)

    def save_related(self, request, form, formsets, change):
        from audit.services import audit_record

        super().save_related(request, form, formsets, change)
        group = form.instance
        audit_record(
            actor=self.actor(request),
            action="tenants.minergroup.members_set",
            entity=group,
            payload={"miners": sorted(group.miners.values_list("miner_id", flat=True))},
            site_code=group.site.code,
        )


class ScopedGrantForm(forms.ModelForm):
    """Grants and invitations: the right shape, and only inside the acting user's own grant scope."""

    acting_user = None  # set per request by GrantAdminMixin.get_form

    def clean(self):
        data = super().clean()
        scope = {k: data.get(k) for k in ("role", "all_sites", "site", "zone", "tenant")}
        if not scope["role"]:
            return data
        scope["all_sites"] = bool(scope["all_sites"])
        try:
            grant_shape_check(**scope)
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc
        if not scoping.can_grant(self.acting_user, **scope):
            raise forms.ValidationError("You may grant roles only within your own scope.")
        return data


class GrantAdminMixin:
    scoped_choices = {
        "site": scoping.sites_for,
        "zone": scoping.zones_for,
        "tenant": scoping.tenants_for,
        # Only the users of the manager's own sites and tenants (everyone for an all-sites manager).
        "user": scoping.grantable_users_for,
    }
    manage_capability = Capability.MANAGE_GRANTS

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = ScopedGrantForm
        form = super().get_form(request, obj, **kwargs)
        form.acting_user = request.user
        return form


@admin.register(RoleGrant)
class RoleGrantAdmin(GrantPermissionsMixin, GrantAdminMixin, ScopedModelAdmin):
    scoped = scoping.role_grants_for
    list_display = ("user", "role", "all_sites", "site", "zone", "tenant", "granted_by", "granted_at")
    list_filter = ("role", ("site", Related))
    list_select_related = ("user", "site", "zone__site", "tenant", "granted_by")
    fields = ("user", "role", "all_sites", "site", "zone", "tenant")
    actions = ["unlock_sign_in"]

    @admin.action(description="Unlock sign-in of the selected grants' users")
    def unlock_sign_in(self, request, queryset):
        emails = sorted({g.user.email for g in queryset if g.user.email})
        unlocked = [e for e in emails if login_unlock(actor=self.actor(request), email=e)]
        self.message_user(request, f"unlocked: {', '.join(unlocked)}" if unlocked else "none of them was locked")

    def has_delete_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)

    def save_model(self, request, obj, form, change):
        grant = role_grant_create(
            actor=self.actor(request),
            user=obj.user,
            role=obj.role,
            site=obj.site,
            zone=obj.zone,
            tenant=obj.tenant,
            all_sites=obj.all_sites,
            granted_by=request.user,
        )
        obj.pk = grant.pk

    def delete_model(self, request, obj):
        role_grant_revoke(actor=self.actor(request), grant=obj)


@admin.register(Invitation)
class InvitationAdmin(GrantAdminMixin, ScopedModelAdmin):
    list_display = ("email", "role", "site", "tenant", "invited_by", "created_at", "expires_at", "accepted_at")
    fields = ("email", "role", "all_sites", "site", "zone", "tenant")

    @staticmethod
    def scoped(user, capability):
        scope = scoping.scope_for(user)
        if scope.is_platform or Capability.MANAGE_GRANTS in scope.all_sites:
            return Invitation.objects.all()
        return Invitation.objects.filter(invited_by=user)

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        inv, token = invitation_create(
            actor=self.actor(request),
            invited_by=request.user,
            email=obj.email,
            role=obj.role,
            site=obj.site,
            zone=obj.zone,
            tenant=obj.tenant,
            all_sites=obj.all_sites,
        )
        obj.pk = inv.pk
        link = request.build_absolute_uri(f"/accounts/invite/{token}/")
        self.message_user(
            request,
            format_html("Send this sign-up link to {} (shown once): <code>{}</code>", inv.email, link),
            messages.WARNING,
        )


# The audit chain's admin is scoped by tenant and site, so it is registered from this floor.
admin.site.register(AuditEvent, AuditEventAdmin)
admin.site.register(AuditCheckpoint, AuditCheckpointAdmin)

import tenants.admin_edge  # noqa: E402 -- registers the edge security admins (its own module: size)
import tenants.admin_grants  # noqa: E402, F401 -- registers the object grant admin (its own module: size)
