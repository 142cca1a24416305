from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q


class SiteEdgeSecurity(models.Model):
    """How a site's collectors must reach the cloud (SPEC §4): mTLS and the source-network
    allowlist (VPN mode). No row means both off. Changed only through tenants.edge_security,
    which audits every change on the site's chain (what security_attestation reads back)."""

    site = models.OneToOneField(
        "tenants.Site", on_delete=models.PROTECT, primary_key=True, related_name="edge_security"
    )
    mtls_required = models.BooleanField(
        default=False, help_text="Collector requests must carry a verified client certificate registered for them."
    )
    source_networks = ArrayField(
        models.CharField(max_length=49),
        default=list,
        blank=True,
        help_text="CIDRs collector requests must come from; empty = from anywhere.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "site edge security"
        verbose_name_plural = "site edge security"

    def __str__(self):
        return f"edge security of {self.site_id and self.site.code}"

    @property
    def allowlist_on(self) -> bool:
        return bool(self.source_networks)


class CollectorCertificate(models.Model):
    """A client certificate a collector may present under mTLS, by its SHA-256 fingerprint (of the
    DER certificate, lower-case hex). Several per collector for rotation; each stops at not_after."""

    collector = models.ForeignKey("tenants.Collector", on_delete=models.PROTECT, related_name="certificates")
    fingerprint_sha256 = models.CharField(max_length=64, unique=True)
    not_after = models.DateTimeField()
    note = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["collector_id", "-not_after"]
        indexes = [
            models.Index(fields=["collector"], condition=Q(revoked_at__isnull=True), name="active_certificates_idx")
        ]

    def __str__(self):
        return f"{self.fingerprint_sha256[:16]}… ({self.collector_id})"
