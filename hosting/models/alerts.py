"""Alerts and incidents (SPEC §9): raised by the system, an operator or the rule engine through
hosting.services.alerts, deduplicated while they fire."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class AlertState(models.TextChoices):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertSeverity(models.TextChoices):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertSource(models.TextChoices):
    RULE = "rule"
    SYSTEM = "system"
    OPERATOR = "operator"


class Alert(models.Model):
    """A site alert has no miner (a dark collector raises one for the site, not one per miner)."""

    # Set by alert_raise, never stored: True when that call created the alert.
    raised: bool

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    site = models.ForeignKey("tenants.Site", on_delete=models.PROTECT, related_name="+")
    miner = models.ForeignKey("tenants.Miner", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=32)  # collector_dark, miner_offline, overheat, zero_hashrate, custom
    severity = models.CharField(max_length=16, choices=AlertSeverity.choices, default=AlertSeverity.WARNING)
    source = models.CharField(max_length=16, choices=AlertSource.choices, default=AlertSource.SYSTEM)
    state = models.CharField(max_length=16, choices=AlertState.choices, default=AlertState.FIRING)
    title = models.CharField(max_length=200)
    details = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=200)
    fired_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    rule_id = models.IntegerField(null=True, blank=True)  # the rule engine's rule, when it raised it

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            # One live alert per key: raising it again while it fires returns the same row.
            models.UniqueConstraint(
                fields=["dedupe_key"], condition=~Q(state="resolved"), name="alert_one_live_per_key"
            ),
        ]
        indexes = [
            models.Index(fields=["site", "fired_at"], name="alert_site_time_idx"),
            models.Index(fields=["tenant", "fired_at"], name="alert_tenant_time_idx"),
        ]

    def __str__(self):
        return f"{self.kind} {self.title} ({self.state})"
