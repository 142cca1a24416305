"""Evidence packs (SPEC §9): a zip a customer can hand to a third party in a dispute, built by
hosting.evidence and kept in Django's storage (EVIDENCE_PACK_STORAGE names the STORAGES alias:
the filesystem by default, an S3-compatible backend in production)."""

from django.conf import settings
from django.core.files.storage import storages
from django.db import models


def evidence_storage():
    return storages[settings.EVIDENCE_PACK_STORAGE]


# A failed pack's `error` is "CODE: what a person is told" when the storage refused the zip; any other
# failure (the builder raised) is PACK_BUILD_FAILED and its error is the exception, for the operators.
STORAGE_FULL = "STORAGE_FULL"
STORAGE_ERROR = "STORAGE_ERROR"
PACK_BUILD_FAILED = "PACK_BUILD_FAILED"
# A pack that was ready and whose file later went missing from the storage (deleted by hand, a lifecycle
# rule, a restore without the media): failed on the first download that finds it gone (410 Gone).
PACK_FILE_MISSING = "PACK_FILE_MISSING"
# Codes whose `error` is "CODE: the sentence a person is told".
WORDED_CODES = (STORAGE_FULL, STORAGE_ERROR, PACK_FILE_MISSING)
BUILD_FAILED_MESSAGE = "the pack could not be built (the error is logged for the operators); request it again later"


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

    @property
    def error_code(self) -> str:
        """STORAGE_FULL, STORAGE_ERROR, PACK_FILE_MISSING or PACK_BUILD_FAILED for a failed pack; empty
        otherwise."""
        if self.status != EvidencePackStatus.FAILED:
            return ""
        code = self.error.split(":", 1)[0]
        return code if code in WORDED_CODES else PACK_BUILD_FAILED

    @property
    def error_message(self) -> str:
        """What the portal tells a person about a failed pack (never an exception's text)."""
        code = self.error_code
        if code in WORDED_CODES:
            return self.error.split(":", 1)[1].strip()
        return BUILD_FAILED_MESSAGE if code else ""

    @property
    def public_error(self) -> str:
        """`error` as the API shows it: the storage's sentence, or for a build failure its code and a
        sentence — the exception itself is for the operators (the log, the admin), not the customer."""
        code = self.error_code
        if code == PACK_BUILD_FAILED:
            return f"{PACK_BUILD_FAILED}: {BUILD_FAILED_MESSAGE}"
        return self.error if code else ""
