"""Planned maintenance windows (SPEC §9): one-off or weekly in the site's time zone, scoped to a
site, a zone or a miner. The downtime job and the rule engine read them through
hosting.selectors.maintenance."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q


class MaintenanceWindow(models.Model):
    site = models.ForeignKey("tenants.Site", on_delete=models.PROTECT, related_name="+")
    zone = models.ForeignKey("tenants.Zone", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    miner = models.ForeignKey("tenants.Miner", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=500)
    # one-off: starts_at..ends_at. weekly: every weekday in `weekdays` (0 = Monday) at start_time
    # for duration_minutes, in `timezone`, from starts_at until expires_at.
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    weekdays = ArrayField(models.PositiveSmallIntegerField(), default=list, blank=True)
    start_time = models.TimeField(null=True, blank=True)
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    canceled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="maintenance_one_off_or_weekly",
                condition=(
                    Q(ends_at__isnull=False, weekdays=[])
                    | Q(ends_at__isnull=True, start_time__isnull=False, duration_minutes__gt=0)
                ),
            ),
            models.CheckConstraint(
                name="maintenance_one_off_range",
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
            ),
        ]
        indexes = [models.Index(fields=["site", "starts_at"], name="maint_site_start_idx")]

    def __str__(self):
        return f"{self.scope_label}: {self.reason}"

    @property
    def recurring(self) -> bool:
        return self.ends_at is None

    @property
    def scope_label(self) -> str:
        if self.miner is not None:
            return f"miner {self.miner.miner_id}"
        if self.zone is not None:
            return f"zone {self.zone.code}"
        return f"site {self.site.code}"
