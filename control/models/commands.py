"""Commands a collector pulls, leases and ACKs (SPEC §6).

One transition table (TRANSITIONS) says which state may follow which; control.services has
one function per transition that re-reads the row locked and refuses the rest
(INVALID_TRANSITION). The database holds the queue's invariants: at most one leased command per
miner (partial unique index), one active command per dedupe key, one row and wire id per attempt.
"""

from django.conf import settings
from django.db import models
from django.db.models import Case, Q, Value, When
from django.db.models.functions import Cast, Concat


class CommandType(models.TextChoices):
    REBOOT = "reboot", "Reboot"
    DISABLE_HASHING = "disable_hashing", "Disable hashing"
    ENABLE_HASHING = "enable_hashing", "Enable hashing"
    SET_FREQUENCY = "set_frequency", "Set frequency"
    SET_FAN = "set_fan", "Set fan"
    SET_POOL = "set_pool", "Set pool"
    POWER_OFF = "power_off", "Power off (PDU)"
    POWER_ON = "power_on", "Power on (PDU)"


class PriorityClass(models.IntegerChoices):
    """Arbitration order: a higher class supersedes lower queued commands for the same miner."""

    SAFETY = 40, "Safety"
    COMPLIANCE = 30, "Compliance/DR"
    EFFICIENCY = 20, "Efficiency"
    CONVENIENCE = 10, "Convenience"


class CommandState(models.TextChoices):
    PROPOSED = "proposed", "Proposed (needs approval)"
    APPROVED = "approved", "Approved"
    QUEUED = "queued", "Queued"
    DISPATCHED = "dispatched", "Dispatched (leased)"
    RUNNING = "running", "Running"
    ACKED = "acked", "ACKed (verifying)"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"
    CANCELED = "canceled", "Canceled"
    SUPERSEDED = "superseded", "Superseded"
    REJECTED = "rejected", "Rejected (by approver)"
    ROLLED_BACK = "rolled_back", "Rolled back"


S = CommandState
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PROPOSED: frozenset({S.APPROVED, S.REJECTED, S.CANCELED, S.EXPIRED, S.SUPERSEDED}),
    S.APPROVED: frozenset({S.QUEUED, S.CANCELED, S.EXPIRED, S.SUPERSEDED}),
    S.QUEUED: frozenset({S.DISPATCHED, S.CANCELED, S.EXPIRED, S.SUPERSEDED}),
    # A lapsed lease goes back to the queue (same or next attempt) or ends.
    S.DISPATCHED: frozenset({S.RUNNING, S.ACKED, S.QUEUED, S.FAILED, S.EXPIRED, S.CANCELED}),
    S.RUNNING: frozenset({S.ACKED, S.QUEUED, S.FAILED, S.EXPIRED}),
    S.ACKED: frozenset({S.SUCCEEDED, S.FAILED, S.QUEUED}),
    S.SUCCEEDED: frozenset({S.ROLLED_BACK}),
    S.FAILED: frozenset(),
    S.EXPIRED: frozenset(),
    S.CANCELED: frozenset(),
    S.SUPERSEDED: frozenset(),
    S.REJECTED: frozenset(),
    S.ROLLED_BACK: frozenset(),
}
FINAL_STATES = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt) | {S.SUCCEEDED}
LEASED_STATES = frozenset({S.DISPATCHED, S.RUNNING})
ACTIVE_STATES = frozenset({S.PROPOSED, S.APPROVED, S.QUEUED, S.DISPATCHED, S.RUNNING, S.ACKED})


class Outcome(models.TextChoices):
    VERIFIED = "verified", "Verified in telemetry"
    VERIFIED_DESPITE_ACK = "verified_despite_ack", "Verified although the edge ACKed failure"
    UNVERIFIED = "unverified", "ACKed, effect not observable"
    VERIFICATION_FAILED = "verification_failed", "ACKed, effect not seen in telemetry"
    EDGE_FAILED = "edge_failed", "Edge reported failure"
    EDGE_REJECTED = "edge_rejected", "Edge refused it"
    TIMED_OUT = "timed_out", "No ACK before TTL"
    REJECTED_BY_POLICY = "rejected_by_policy", "Refused by a guardrail"


def wire_id_of(pk: int, attempt: int) -> str:
    """The command_id the collector sees. A re-dispatch of a lapsed lease keeps it (the edge
    answers `skipped` instead of acting twice); a retry is a new attempt `<id>.<n>`."""
    return str(pk) if attempt == 1 else f"{pk}.{attempt}"


class Command(models.Model):
    # Set on instances by control.services, never stored: the fields a transition with
    # write=False changed (written by command_write), and whether command_create returned an
    # existing command for the same dedupe key.
    _unwritten: set[str]
    deduplicated: bool

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False
    )  # command_tenant_idx
    site = models.ForeignKey("tenants.Site", on_delete=models.PROTECT, related_name="+")
    zone = models.ForeignKey(
        "tenants.Zone", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    miner = models.ForeignKey(
        "tenants.Miner", on_delete=models.PROTECT, related_name="commands", db_index=False
    )  # command_miner_idx
    command_type = models.CharField(max_length=32, choices=CommandType.choices)
    params = models.JSONField(default=dict, blank=True)
    priority_class = models.IntegerField(choices=PriorityClass.choices, default=PriorityClass.CONVENIENCE)
    priority = models.IntegerField(default=0, help_text="Order within a class; higher first.")
    emergency = models.BooleanField(default=False, help_text="Safety only: may interrupt a running command.")
    state = models.CharField(max_length=16, choices=CommandState.choices)
    reason = models.TextField(blank=True, default="")
    evidence = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)
    # time
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    ttl_sec = models.PositiveIntegerField()
    expires_at = models.DateTimeField()
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="Retry backoff: not handed out before this time."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    # who and approval
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    created_by_system = models.CharField(max_length=64, blank=True, default="", help_text="rule engine, curtailment, …")
    rule_id = models.BigIntegerField(null=True, blank=True)
    approval_required = models.BooleanField(default=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approval_expires_at = models.DateTimeField(null=True, blank=True)
    decided_reason = models.TextField(blank=True, default="")
    # the owner's step (customer consent, control.services.consent): required by the tenant's policy
    owner_consent_required = models.BooleanField(default=False)
    owner_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    owner_approved_at = models.DateTimeField(null=True, blank=True)
    owner_decided_reason = models.TextField(blank=True, default="")
    # attempts and lease
    attempt = models.PositiveIntegerField(default=1)
    max_retries = models.PositiveIntegerField(default=2)
    retry_backoff_sec = models.PositiveIntegerField(default=30)
    lease_epoch = models.PositiveIntegerField(default=0)
    lease_collector = models.ForeignKey(
        "tenants.Collector", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    lease_device_id = models.CharField(max_length=128, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    # result
    ack_payload = models.JSONField(null=True, blank=True)
    acked_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=32, choices=Outcome.choices, blank=True, default="")
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    before_snapshot = models.JSONField(null=True, blank=True)
    blocked_reason = models.CharField(
        max_length=255, blank=True, default="", help_text="Why it waits, e.g. 'blocked by #123 (Safety)'."
    )
    # links
    batch_id = models.UUIDField(null=True, blank=True)
    group = models.ForeignKey(
        "tenants.MinerGroup", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    rollback_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="rollbacks", db_index=False
    )
    superseded_by = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="supersedes", db_index=False
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Queue rule 1: at most one control command per miner is leased at any time.
            models.UniqueConstraint(
                fields=["miner"], condition=Q(state__in=["dispatched", "running"]), name="one_leased_command_per_miner"
            ),
            # Cooldown / rule hits: one active command per dedupe key.
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(state__in=["proposed", "approved", "queued", "dispatched", "running", "acked"]),
                name="one_active_command_per_dedupe_key",
            ),
            models.CheckConstraint(condition=Q(state__in=[s.value for s in CommandState]), name="command_state_valid"),
            models.CheckConstraint(
                condition=Q(emergency=False) | Q(priority_class=PriorityClass.SAFETY), name="emergency_is_safety_only"
            ),
        ]
        indexes = [
            # The poll's lease query: ready commands of a site, best first.
            models.Index(
                fields=["site", "-priority_class", "-priority", "created_at"],
                condition=Q(state="queued"),
                name="command_ready_idx",
            ),
            # The poll's arbitration wait: does this miner have a pending command of a higher class?
            models.Index(
                fields=["site", "miner", "priority_class"],
                condition=Q(state__in=["proposed", "approved", "queued"]),
                name="command_pending_idx",
            ),
            models.Index(
                fields=["state", "lease_until"],
                condition=Q(state__in=["dispatched", "running"]),
                name="command_lease_idx",
            ),
            models.Index(
                fields=["state", "expires_at"],
                condition=Q(state__in=sorted(ACTIVE_STATES)),
                name="command_state_expiry_idx",
            ),
            models.Index(fields=["miner", "created_at"], name="command_miner_idx"),
            # The NOC board's "failed in the last hour" (failures are few; history is not).
            models.Index(fields=["site", "finished_at"], condition=Q(state="failed"), name="command_failed_idx"),
            models.Index(fields=["tenant", "created_at"], name="command_tenant_idx"),
            # Every state change rewrites a row in every index of the table (state is indexed, so no
            # update is HOT), and history outgrows the queue a thousandfold: an index that only a
            # few rows need holds only those rows. A foreign key that is usually empty is indexed
            # where it is set; that is all a lookup or a delete of the referenced row needs.
            *(
                models.Index(
                    fields=[f], condition=Q(**{f"{f}__isnull": False}), name=f"cmd_{f.removesuffix('_id')}_idx"
                )
                for f in (
                    "zone",
                    "created_by",
                    "approved_by",
                    "owner_approved_by",
                    "lease_collector",
                    "group",
                    "rollback_of",
                    "superseded_by",
                    "batch_id",
                )
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.command_type} {self.state}"

    def wire_id(self, attempt: int | None = None) -> str:
        """The command_id the collector sees for `attempt` (default: the current one)."""
        return wire_id_of(self.pk, attempt or self.attempt)


class CommandAttempt(models.Model):
    """One attempt of a command (wire id), with each lease it was handed out under."""

    command = models.ForeignKey(
        Command, on_delete=models.PROTECT, related_name="attempts", db_index=False
    )  # attempt_unique
    attempt = models.PositiveIntegerField()
    # <command>[.<attempt>] (wire_id_of; attempt_wire_id_derived), so attempt_unique keeps it unique
    # without an index of its own: an ACK's id is parsed into (command, attempt), never looked up.
    wire_id = models.CharField(max_length=64)
    lease_epoch = models.PositiveIntegerField()
    collector = models.ForeignKey("tenants.Collector", on_delete=models.PROTECT, related_name="+")
    device_id = models.CharField(max_length=128, blank=True, default="")
    leased_at = models.DateTimeField()
    lease_until = models.DateTimeField()
    lease_ended_at = models.DateTimeField(null=True, blank=True)
    lease_end_reason = models.CharField(max_length=32, blank=True, default="")  # acked | lapsed | canceled
    ack_status = models.CharField(max_length=16, blank=True, default="")
    result_code = models.IntegerField(null=True, blank=True)
    error_class = models.CharField(max_length=64, blank=True, default="")
    result_message = models.TextField(blank=True, default="")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    acked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["command_id", "attempt", "lease_epoch"]
        constraints = [
            # One row per attempt: a lapsed lease re-dispatched under the same wire id updates it (the
            # lease statement's ON CONFLICT arbiter), and the audit trail keeps every grant.
            models.UniqueConstraint(fields=["command", "attempt"], name="attempt_unique"),
            models.CheckConstraint(
                condition=Q(
                    wire_id=Case(
                        When(attempt=1, then=Cast("command_id", models.CharField())),
                        default=Concat(
                            Cast("command_id", models.CharField()), Value("."), Cast("attempt", models.CharField())
                        ),
                    )
                ),
                name="attempt_wire_id_derived",
            ),
        ]


class CommandAck(models.Model):
    """Every ACK received, as evidence — first, replayed, late (lapsed lease) or unknown."""

    class Disposition(models.TextChoices):
        FIRST = "first", "Decided the attempt"
        REPLAY = "replay", "Replay of a recorded ACK"
        LATE = "late", "From a lapsed lease"
        UNKNOWN = "unknown", "No such command"

    command = models.ForeignKey(
        Command, on_delete=models.PROTECT, null=True, blank=True, related_name="acks", db_index=False
    )  # ack_command_idx
    wire_id = models.CharField(max_length=64)
    collector = models.ForeignKey("tenants.Collector", on_delete=models.PROTECT, related_name="+")
    device_id = models.CharField(max_length=128, blank=True, default="")
    endpoint = models.CharField(max_length=16)  # v1 | legacy
    received_at = models.DateTimeField()
    payload = models.JSONField()
    disposition = models.CharField(max_length=16, choices=Disposition.choices)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["wire_id"], name="ack_wire_idx"),
            models.Index(fields=["command", "received_at"], name="ack_command_idx"),
            # ACKs for ids the site was never handed: the NOC board and the collector's status.
            models.Index(
                fields=["collector", "received_at"], condition=Q(disposition="unknown"), name="ack_unknown_idx"
            ),
        ]
