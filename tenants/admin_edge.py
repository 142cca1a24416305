"""Admin of a site's edge security (mTLS, source networks) and of collector client certificates.
Every write goes through tenants.edge_security, which audits it; the capability is MANAGE_TOKENS,
the one that governs collector credentials."""

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from core.errors import InvalidParameter
from tenants import scoping
from tenants.admin_base import ScopedModelAdmin
from tenants.edge_security import (
    collector_certificate_add,
    collector_certificate_revoke,
    fingerprint_normalize,
    networks_normalize,
    site_allowlist_set,
    site_mtls_set,
)
from tenants.models import CollectorCertificate, SiteEdgeSecurity
from tenants.scoping import Capability


class SiteEdgeSecurityForm(forms.ModelForm):
    source_networks = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One CIDR per line (IPv4 or IPv6). Empty: collectors may connect from anywhere.",
    )
    reason = forms.CharField(required=False, help_text="Recorded in the audit event.")

    class Meta:
        model = SiteEdgeSecurity
        fields = ("site", "mtls_required", "source_networks")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["source_networks"] = "\n".join(self.instance.source_networks)

    def clean_source_networks(self):
        lines = [v.strip() for v in self.cleaned_data["source_networks"].splitlines() if v.strip()]
        try:
            return networks_normalize(lines)
        except InvalidParameter as exc:
            raise ValidationError(f"{exc.error_code}: {exc.message}") from exc


@admin.register(SiteEdgeSecurity)
class SiteEdgeSecurityAdmin(ScopedModelAdmin):
    scoped = scoping.site_edge_security_for
    scoped_choices = {"site": scoping.sites_for}
    manage_capability = Capability.MANAGE_TOKENS
    form = SiteEdgeSecurityForm
    list_display = ("site", "mtls_required", "source_networks", "updated_at")
    list_filter = ("mtls_required",)
    list_select_related = ("site",)

    def get_readonly_fields(self, request, obj=None):
        return ("site",) if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False  # turned off by switching mTLS off and emptying the networks: both audited

    def save_model(self, request, obj, form, change):
        data, actor = form.cleaned_data, self.actor(request)
        site = obj.site
        site_mtls_set(actor=actor, site=site, required=data["mtls_required"], reason=data.get("reason", ""))
        site_allowlist_set(actor=actor, site=site, networks=data["source_networks"], reason=data.get("reason", ""))
        obj.pk = site.pk
        obj.refresh_from_db()


class CollectorCertificateForm(forms.ModelForm):
    pem = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        label="Certificate (PEM)",
        help_text="Paste the collector's certificate: its SHA-256 fingerprint and not-after are taken from it.",
    )
    fingerprint_sha256 = forms.CharField(
        required=False, max_length=200, help_text="Or its SHA-256 fingerprint (hex, colons allowed)…"
    )

    class Meta:
        model = CollectorCertificate
        fields = ("collector", "fingerprint_sha256", "not_after", "note")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "not_after" in self.fields:
            self.fields["not_after"].required = False

    def clean(self):
        data = super().clean()
        pem = (data.get("pem") or "").strip()
        if pem:
            try:
                cert = x509.load_pem_x509_certificate(pem.encode())
            except ValueError as exc:
                raise ValidationError({"pem": "not a PEM certificate"}) from exc
            data["fingerprint_sha256"] = cert.fingerprint(hashes.SHA256()).hex()
            data["not_after"] = cert.not_valid_after_utc
        elif not data.get("fingerprint_sha256") or not data.get("not_after"):
            raise ValidationError("paste the certificate, or give its SHA-256 fingerprint and not-after date")
        else:
            try:
                data["fingerprint_sha256"] = fingerprint_normalize(data["fingerprint_sha256"])
            except InvalidParameter as exc:
                raise ValidationError({"fingerprint_sha256": exc.message}) from exc
        self.instance.fingerprint_sha256 = data["fingerprint_sha256"]
        self.instance.not_after = data["not_after"]
        return data


@admin.register(CollectorCertificate)
class CollectorCertificateAdmin(ScopedModelAdmin):
    scoped = scoping.collector_certificates_for
    scoped_choices = {"collector": scoping.collectors_for}
    manage_capability = Capability.MANAGE_TOKENS
    form = CollectorCertificateForm
    list_display = ("fingerprint_sha256", "collector", "not_after", "revoked_at", "note", "created_at")
    list_filter = (("collector__site", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("collector__site",)
    search_fields = ("fingerprint_sha256", "collector__name", "note")
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("collector", "fingerprint_sha256", "not_after", "note", "created_at", "created_by", "revoked_at")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("collector", "pem", "fingerprint_sha256", "not_after", "note")
        return self.get_readonly_fields(request, obj) + ("revoked_by",)

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, never deleted: the attestation names it

    def save_model(self, request, obj, form, change):
        if change:
            return  # a registered certificate does not change; revoke it and register another
        data = form.cleaned_data
        saved = collector_certificate_add(
            actor=self.actor(request),
            collector=data["collector"],
            fingerprint=data["fingerprint_sha256"],
            not_after=data["not_after"],
            note=data.get("note", ""),
            created_by=request.user,
        )
        obj.pk = saved.pk
        obj.refresh_from_db()

    @admin.action(description="Revoke selected certificates", permissions=["change"])
    def revoke(self, request, queryset):
        allowed = scoping.collector_certificates_for(request.user, Capability.MANAGE_TOKENS)
        n = 0
        for cert in queryset.filter(pk__in=allowed.values("pk"), revoked_at__isnull=True):
            collector_certificate_revoke(actor=self.actor(request), certificate=cert, revoked_by=request.user)
            n += 1
        self.message_user(request, f"{n} certificate(s) revoked.")
