"""Downtime intervals (SPEC §9): per miner, the owner tenant at the time, start, end, cause and the
evidence that decided it. Maintained incrementally by hosting.services.downtime from the 1-minute
tier, the upload receipts, commands and maintenance windows; kept 7 years (reports and evidence
packs for any past period read intervals, never tiers that retention already dropped). The
definitions are docs/DOWNTIME.md."""

from django.db import models
from django.db.models import F, Q


class DowntimeCause(models.TextChoices):
    OFFLINE = "offline"
    ZERO_HASHRATE = "zero_hashrate", "online but zero hashrate"
    CURTAILMENT = "curtailment"
    MAINTENANCE = "maintenance", "planned maintenance"
    COMMAND = "command", "operator command"
    UNMEASURED = "unmeasured", "unmeasured (collector dark)"


PLANNED_CAUSES = (DowntimeCause.MAINTENANCE, DowntimeCause.CURTAILMENT)


class DowntimeInterval(models.Model):
    miner = models.ForeignKey("tenants.Miner", on_delete=models.PROTECT, related_name="+")
    # The owner at the time: never updated when the miner moves to another customer.
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("tenants.Site", on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)  # null: still open
    cause = models.CharField(max_length=16, choices=DowntimeCause.choices)
    command = models.ForeignKey("control.Command", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    maintenance = models.ForeignKey(
        "hosting.MaintenanceWindow", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    evidence = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.CheckConstraint(
                name="downtime_positive", condition=Q(ended_at__isnull=True) | Q(ended_at__gt=F("started_at"))
            ),
            models.UniqueConstraint(fields=["miner"], condition=Q(ended_at__isnull=True), name="downtime_one_open"),
        ]
        indexes = [
            models.Index(fields=["tenant", "started_at"], name="downtime_tenant_start_idx"),
            models.Index(fields=["site", "started_at"], name="downtime_site_start_idx"),
            models.Index(fields=["miner", "started_at"], name="downtime_miner_start_idx"),
        ]

    def __str__(self):
        return f"{self.miner_id} {self.cause} {self.started_at:%Y-%m-%d %H:%M}–{self.ended_at or '…'}"


class DowntimeWatermark(models.Model):
    """Per site, the minute up to which intervals are maintained: a pass reads only what is new."""

    site = models.OneToOneField("tenants.Site", on_delete=models.CASCADE, primary_key=True, related_name="+")
    processed_until = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.site_id} until {self.processed_until:%Y-%m-%d %H:%M}"
