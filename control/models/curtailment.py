"""Curtailments (SPEC §6.3): an operator's site-level order — demand response, a grid or
compliance order — to shed `target_kw` between `start_at` and `end_at`.

One record per order. A second person approves it (requester ≠ approver); at its start the
curtailment tick picks the miners and creates Compliance/DR `disable_hashing` commands for them
(one batch), at its end (or on cancel) the matching `enable_hashing` batch. The record keeps
which miners were picked and why, the kW it expected, and the kW actually shed as read back
from telemetry (control.services.curtailment_power)."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q


class CurtailmentState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    ACTIVE = "active", "Active (miners disabled)"
    ENDED = "ended", "Ended"
    CANCELED = "canceled", "Canceled"


C = CurtailmentState
CURTAILMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    C.SCHEDULED: frozenset({C.ACTIVE, C.CANCELED}),
    C.ACTIVE: frozenset({C.ENDED, C.CANCELED}),
    C.ENDED: frozenset(),
    C.CANCELED: frozenset(),
}


class Curtailment(models.Model):
    site = models.ForeignKey("tenants.Site", on_delete=models.PROTECT, related_name="+", db_index=False)
    # scope inside the site, as a rule's: every one given narrows it down; none: the whole site
    zone = models.ForeignKey(
        "tenants.Zone", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    group = models.ForeignKey(
        "tenants.MinerGroup", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    miners = ArrayField(models.BigIntegerField(), default=list, blank=True)  # Miner pks; empty: every miner
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    reason = models.TextField()
    target_kw = models.FloatField()
    state = models.CharField(max_length=16, choices=CurtailmentState.choices, default=CurtailmentState.SCHEDULED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approval_reason = models.TextField(blank=True, default="")
    # the pick: [{"miner": pk, "miner_id": str, "power_w": float, "why": str}], and what was left out
    chosen = models.JSONField(default=list, blank=True)
    not_chosen = models.JSONField(default=dict, blank=True)  # reason -> count
    expected_kw = models.FloatField(null=True, blank=True)
    chosen_at = models.DateTimeField(null=True, blank=True)
    # the commands: one batch each way; miners still owed an enable_hashing (locked, rate-limited)
    disable_batch_id = models.UUIDField(null=True, blank=True)
    enable_batch_id = models.UUIDField(null=True, blank=True)
    enable_pending = ArrayField(models.BigIntegerField(), default=list, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.TextField(blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    # kW shed, read back from telemetry and stored at the end
    baseline_kw = models.FloatField(null=True, blank=True)
    shed_kw = models.FloatField(null=True, blank=True)
    measured_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-start_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(end_at__gt=F("start_at")), name="curtailment_end_after_start"),
            models.CheckConstraint(condition=Q(target_kw__gt=0), name="curtailment_target_kw_positive"),
            models.CheckConstraint(
                condition=Q(state__in=[s.value for s in CurtailmentState]), name="curtailment_state_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["site", "-start_at"], name="curtailment_site_idx"),
            # The tick's two questions: which scheduled ones are due, which active ones are over.
            models.Index(
                fields=["state", "start_at"], condition=Q(state="scheduled"), name="curtailment_due_start_idx"
            ),
            models.Index(fields=["state", "end_at"], condition=Q(state="active"), name="curtailment_due_end_idx"),
        ]

    def __str__(self):
        return f"curtailment #{self.pk} {self.target_kw:g} kW {self.state}"
