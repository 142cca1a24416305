"""Rules (SPEC §7): a rule watches one metric of the miners in its scope and, after a sustained
breach, proposes a command through control's services or raises an alert through hosting's.

A rule is edited in place but every edit bumps `version` and writes a RuleVersion row with the
whole definition, so a hit can say which definition it fired under. RuleState is the engine's
memory per rule × miner (the consecutive-sample count, first breach, cooldown, mode); RuleHit is
what it did, kept as evidence.
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q


class Metric(models.TextChoices):
    TEMP_MAX = "temp_max", "Max chip/board temperature (°C)"
    TEMP_AVG = "temp_avg", "Average temperature (°C)"
    HASHRATE = "hashrate", "Current hashrate (TH/s)"
    HASHRATE_PCT = "hashrate_pct", "Current hashrate, % of nominal"
    REJECT_RATE = "reject_rate", "Rejected shares, % of all shares"
    HW_ERRORS = "hw_errors", "Hardware errors (counter)"
    FAN = "fan", "Slowest fan (RPM)"
    OFFLINE = "offline", "Offline (1) / online (0)"
    NOT_HASHING = "not_hashing", "Online but not hashing (1) / hashing (0)"


class Op(models.TextChoices):
    GT = "gt", ">"
    GTE = "gte", "≥"
    LT = "lt", "<"
    LTE = "lte", "≤"


class Mode(models.TextChoices):
    NORMAL = "normal", "Normal"
    TRIGGERED = "triggered", "Triggered (waiting for the clear condition)"


class ThermalLevel(models.TextChoices):
    """The rules the legacy thermal config (/api/thermal/config) keeps: one of each per site."""

    WARNING = "warning", "Thermal warning (alert)"
    THROTTLE = "throttle", "Thermal throttle (frequency down)"
    CRITICAL = "critical", "Thermal critical (hashing off, with approval)"


class Rule(models.Model):
    site = models.ForeignKey("tenants.Site", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)
    # scope inside the site: all given narrow it down; exclusions always win
    zone = models.ForeignKey("tenants.Zone", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    group = models.ForeignKey("tenants.MinerGroup", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    miners = ArrayField(models.BigIntegerField(), default=list, blank=True)  # Miner pks; empty: every miner
    excluded_miners = ArrayField(models.BigIntegerField(), default=list, blank=True)
    # trigger
    metric = models.CharField(max_length=32, choices=Metric.choices)
    op = models.CharField(max_length=8, choices=Op.choices)
    threshold = models.FloatField()
    clear_threshold = models.FloatField(null=True, blank=True)  # hysteresis; None: the threshold itself
    consecutive_samples = models.PositiveIntegerField(default=1)
    min_duration_sec = models.PositiveIntegerField(default=0)
    stale_sec = models.PositiveIntegerField(default=300)
    cooldown_sec = models.PositiveIntegerField(default=900)
    daily_cap = models.PositiveIntegerField(default=6)  # triggers per miner per UTC day
    # action: a command (through control's services) or, when blank, an alert only
    command_type = models.CharField(max_length=32, blank=True, default="")
    params = models.JSONField(default=dict, blank=True)
    recovery_command_type = models.CharField(max_length=32, blank=True, default="")
    recovery_params = models.JSONField(default=dict, blank=True)
    priority_class = models.PositiveSmallIntegerField(default=20)  # control.models.PriorityClass (Efficiency)
    approval_required = models.BooleanField(default=False)
    # set once, at creation, by the legacy thermal config: which of the site's thermal rules this is
    thermal_level = models.CharField(max_length=16, choices=ThermalLevel.choices, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["site_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="rule_name_unique_per_site"),
            models.UniqueConstraint(
                fields=["site", "thermal_level"], condition=~Q(thermal_level=""), name="rule_thermal_level_unique"
            ),
            models.CheckConstraint(condition=Q(consecutive_samples__gte=1), name="rule_consecutive_at_least_one"),
        ]

    def __str__(self):
        return f"{self.name} v{self.version}"


class RuleVersion(models.Model):
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    definition = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["rule_id", "-version"]
        constraints = [models.UniqueConstraint(fields=["rule", "version"], name="rule_version_unique")]


class RuleState(models.Model):
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="+")
    miner = models.ForeignKey("tenants.Miner", on_delete=models.CASCADE, related_name="+")
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.NORMAL)
    count = models.PositiveIntegerField(default=0)  # consecutive breaching samples
    first_breach_at = models.DateTimeField(null=True, blank=True)
    last_sample_ts = models.DateTimeField(null=True, blank=True)  # the sample last counted
    last_trigger_at = models.DateTimeField(null=True, blank=True)
    cooldown_until = models.DateTimeField(null=True, blank=True)
    day = models.DateField(null=True, blank=True)
    triggers_today = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "miner"], name="rule_state_unique")]


class HitKind(models.TextChoices):
    TRIGGER = "trigger", "Triggered"
    RECOVERY = "recovery", "Recovered"
    SUPPRESSED = "suppressed", "Suppressed (maintenance window)"
    CAPPED = "capped", "Not acted on: daily cap reached"


class RuleHit(models.Model):
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="hits")
    version = models.PositiveIntegerField()
    miner = models.ForeignKey("tenants.Miner", on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")  # owner at the time
    kind = models.CharField(max_length=16, choices=HitKind.choices)
    at = models.DateTimeField(db_index=True)
    value = models.FloatField(null=True)
    threshold = models.FloatField()
    command = models.ForeignKey("control.Command", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    evidence = models.JSONField(default=dict)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["rule", "miner", "at"])]
