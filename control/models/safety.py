from django.db import models


class EdgeSafetyEvent(models.Model):
    """A control action the edge took by itself (its local safety override: disable at 85 °C,
    reboot at 95 °C, enable again at 70 °C — COLLECTOR_PROTOCOL §3.5), as it reported it on
    POST /api/edge/v1/events/safety/batch. Append-only: the NOC sees what the edge did that no
    cloud command asked for."""

    site = models.ForeignKey("tenants.Site", on_delete=models.PROTECT, related_name="+")
    collector = models.ForeignKey("tenants.Collector", on_delete=models.PROTECT, related_name="+", db_index=False)
    device_id = models.CharField(max_length=128, blank=True, default="")
    miner = models.ForeignKey(
        "tenants.Miner", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    miner_ref = models.CharField(max_length=128, blank=True, default="", help_text="miner_id as the edge sent it")
    action = models.CharField(max_length=64)
    reason = models.TextField()
    temp_max = models.FloatField(null=True, blank=True)
    ts = models.DateTimeField(help_text="when the edge acted")
    received_at = models.DateTimeField()
    snapshot = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-ts", "-pk"]
        indexes = [models.Index(fields=["site", "-ts"], name="safety_site_ts_idx")]

    def __str__(self):
        return f"{self.action} {self.miner_ref} @ {self.ts:%Y-%m-%d %H:%M}"
