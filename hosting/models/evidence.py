"""Evidence packs (SPEC §9): a zip a customer can hand to a third party in a dispute, built by
hosting.evidence and kept in Django's storage (EVIDENCE_PACK_STORAGE names the STORAGES alias:
the filesystem by default, an S3-compatible backend in production)."""

from django.conf import settings
from django.core.files.storage import storages
from django.db import models


def evidence_storage():
    return storages[settings.EVIDENCE_PACK_STORAGE]


class EvidencePackStatus(models.TextChoices):
    QUEUED = "queued"
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


class EvidencePack(models.Model):
    """One requested pack: a customer tenant's miners at one site over [period_start, period_end)."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("tenants.Site", on_delete=models.PROTECT, related_name="+")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=EvidencePackStatus.choices, default=EvidencePackStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # 0–100
    step = models.CharField(max_length=200, blank=True, default="")
    file = models.FileField(upload_to="evidence/%Y/%m/", storage=evidence_storage, blank=True, max_length=300)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    size = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(period_end__gt=models.F("period_start")), name="evidence_period"),
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="evidence_progress_pct"),
        ]
        indexes = [models.Index(fields=["tenant", "created_at"], name="evidence_tenant_time_idx")]

    def __str__(self):
        return f"evidence #{self.pk} {self.site_id} {self.period_start:%Y-%m-%d}–{self.period_end:%Y-%m-%d}"

    @property
    def filename(self) -> str:
        return f"evidence-{self.site.code}-{self.period_start:%Y%m%d}-{self.period_end:%Y%m%d}-{self.pk}.zip"
