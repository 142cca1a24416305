from django.db import models


class IngestBatch(models.Model):
    """The receipt of one upload: what a collector sent and what became of it.

    Kept as long as the 1-minute tier; evidence packs use it to prove coverage.
    """

    site = models.ForeignKey("tenants.Site", on_delete=models.PROTECT, related_name="+", db_index=False)
    collector = models.ForeignKey("tenants.Collector", on_delete=models.PROTECT, related_name="+", db_index=False)
    token_prefix = models.CharField(max_length=16)
    device_id = models.CharField(max_length=128, blank=True, default="")
    endpoint = models.CharField(max_length=16)  # legacy | v1
    mode = models.CharField(max_length=16, blank=True, default="")  # raw | latest (X-Upload-Mode)
    body_format = models.CharField(max_length=16)  # list | envelope
    received_at = models.DateTimeField(db_index=True)
    body_sha256 = models.CharField(max_length=64)
    body_bytes = models.PositiveIntegerField()
    record_count = models.PositiveIntegerField()
    accepted = models.PositiveIntegerField()
    rejected = models.PositiveIntegerField()
    duplicates = models.PositiveIntegerField()
    unknown_registered = models.PositiveIntegerField(default=0)
    # Records of unknown miners refused by the registration cap (MINER_AUTO_REGISTER_MAX_*): the
    # hosting collector-health job raises one site alert from these.
    registration_refused = models.PositiveIntegerField(default=0, db_default=0)
    first_reasons = models.JSONField(default=list)
    # Every rejected record counted by error_code ({"FUTURE_TIMESTAMP": 3}); first_reasons keeps
    # only the first 20. The collector's status sums these over its last hour of receipts.
    rejected_codes = models.JSONField(default=dict, db_default=models.Value({}, output_field=models.JSONField()))
    sample_from = models.DateTimeField(null=True, blank=True)
    sample_to = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["site", "received_at"], name="ingest_site_time_idx"),
            models.Index(fields=["collector", "received_at"], name="ingest_collector_time_idx"),
            models.Index(fields=["site", "body_sha256"], name="ingest_site_body_idx"),
        ]

    def __str__(self):
        return f"{self.site_id} {self.received_at:%Y-%m-%d %H:%M:%S} {self.accepted}/{self.record_count}"
