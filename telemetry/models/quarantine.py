from django.conf import settings
from django.db import models
from django.db.models import Q


class CollectorPayloadKey(models.Model):
    """The AES-256-GCM key a collector encrypts its envelopes with (`payload_enc`, its
    PICKAXE_LOCAL_KEY), sealed at rest under COLLECTOR_KEY_KEK (core.sealing). The previous key is
    kept after a rotation so batches the collector spooled before it still open. Only the
    fingerprints are ever shown."""

    collector = models.OneToOneField("tenants.Collector", on_delete=models.PROTECT, related_name="+")
    key_sealed = models.TextField(editable=False)
    fingerprint = models.CharField(max_length=32)
    previous_sealed = models.TextField(blank=True, default="", editable=False)
    previous_fingerprint = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField()
    changed_at = models.DateTimeField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def __str__(self):
        return f"payload key {self.fingerprint} of collector {self.collector_id}"

    @staticmethod
    def keys_label(fingerprint: str, previous: str = "") -> str:
        """The keys an attempt to open a batch tries, as QuarantinedBatch.tried_keys records them."""
        return f"{fingerprint}+{previous}" if previous else fingerprint


class QuarantineStatus(models.TextChoices):
    PENDING = "pending", "pending (no key yet)"
    FAILED = "failed", "failed (does not open / not ingestible)"
    DONE = "done", "ingested"


class QuarantinedBatch(models.Model):
    """An encrypted upload the cloud could not open when it arrived, kept exactly as received
    (body bytes and the headers that matter) until its collector's key is registered; then
    telemetry.quarantine ingests it through the normal path and points at the receipt."""

    site = models.ForeignKey("tenants.Site", on_delete=models.PROTECT, related_name="+", db_index=False)
    collector = models.ForeignKey("tenants.Collector", on_delete=models.PROTECT, related_name="+", db_index=False)
    token = models.ForeignKey("tenants.CollectorToken", on_delete=models.PROTECT, related_name="+")
    device_id = models.CharField(max_length=128, blank=True, default="")
    endpoint = models.CharField(max_length=16)
    mode = models.CharField(max_length=16, blank=True, default="")
    zone_code = models.CharField(max_length=64, blank=True, default="")
    received_at = models.DateTimeField()
    body = models.BinaryField(editable=False)
    body_sha256 = models.CharField(max_length=64)
    body_bytes = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=QuarantineStatus.choices, default=QuarantineStatus.PENDING)
    reason = models.CharField(max_length=32)  # the error_code: PAYLOAD_KEY_MISSING, PAYLOAD_DECRYPT_FAILED, …
    detail = models.CharField(max_length=255, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    tried_keys = models.CharField(max_length=40, blank=True, default="")  # keys_label of the last attempt
    processed_at = models.DateTimeField(null=True, blank=True)
    ingest_batch = models.ForeignKey(
        "telemetry.IngestBatch", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["received_at", "pk"]
        indexes = [
            models.Index(fields=["collector", "received_at"], condition=~Q(status="done"), name="quarantine_open_idx"),
            models.Index(fields=["site", "received_at"], name="quarantine_site_time_idx"),
        ]
        constraints = [
            # A spooled batch re-sent before its key is registered is held once.
            models.UniqueConstraint(
                fields=["collector", "body_sha256"], condition=~Q(status="done"), name="quarantine_open_body_unique"
            ),
        ]

    def __str__(self):
        return f"{self.collector_id} {self.received_at:%Y-%m-%d %H:%M:%S} {self.status}"
