"""Work orders (SPEC §9): open → in progress → waiting customer → resolved → closed, one
transition table, changed only by hosting.services.work_orders."""

from django.conf import settings
from django.db import models


class WorkOrderStatus(models.TextChoices):
    OPEN = "open"
    IN_PROGRESS = "in_progress", "in progress"
    WAITING_CUSTOMER = "waiting_customer", "waiting for customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


S = WorkOrderStatus
WORK_ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    S.OPEN: frozenset({S.IN_PROGRESS, S.WAITING_CUSTOMER, S.RESOLVED, S.CLOSED}),
    S.IN_PROGRESS: frozenset({S.WAITING_CUSTOMER, S.RESOLVED, S.OPEN}),
    S.WAITING_CUSTOMER: frozenset({S.IN_PROGRESS, S.RESOLVED}),
    S.RESOLVED: frozenset({S.CLOSED, S.IN_PROGRESS}),  # reopened when the fix did not hold
    S.CLOSED: frozenset(),
}


class WorkOrderPriority(models.TextChoices):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class WorkOrderSource(models.TextChoices):
    TECHNICIAN = "technician"
    OPERATOR = "operator"
    ALERT = "alert"
    SYSTEM = "system"


class WorkOrder(models.Model):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    site = models.ForeignKey("tenants.Site", on_delete=models.PROTECT, related_name="+")
    miner = models.ForeignKey("tenants.Miner", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, choices=WorkOrderStatus.choices, default=WorkOrderStatus.OPEN)
    priority = models.CharField(max_length=10, choices=WorkOrderPriority.choices, default=WorkOrderPriority.NORMAL)
    source = models.CharField(max_length=12, choices=WorkOrderSource.choices, default=WorkOrderSource.OPERATOR)
    alert = models.ForeignKey("hosting.Alert", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "created_at"], name="wo_tenant_time_idx"),
            models.Index(fields=["site", "status"], name="wo_site_status_idx"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.title} ({self.status})"


class WorkOrderComment(models.Model):
    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    body = models.TextField()
    public = models.BooleanField(default=False)  # customers see public comments only
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"comment on #{self.work_order_id}"


class WorkOrderEvent(models.Model):
    """The status history, for display (the audit chain holds the same, hash-linked)."""

    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, blank=True, default="")
    to_status = models.CharField(max_length=20)
    actor_label = models.CharField(max_length=200)
    reason = models.CharField(max_length=500, blank=True, default="")
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"#{self.work_order_id} {self.from_status}→{self.to_status}"
