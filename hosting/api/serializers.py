"""Shapes of the hosting API (input and output). Outputs carry public ids (site code, edge miner
id, tenant slug, usernames), never another tenant's anything: every row already came through a
scoped selector."""

from rest_framework import serializers

from hosting.models import (
    WORK_ORDER_TRANSITIONS,
    AlertSeverity,
    AlertState,
    WorkOrderPriority,
    WorkOrderStatus,
)
from tenants import scoping


def _is_operator(context) -> bool:
    request = context.get("request")
    return request is not None and scoping.scope_for(request.user).is_operator


def _username(user):
    return user.get_username() if user is not None else None


def _miner_id(obj):
    return obj.miner.miner_id if obj.miner_id else None


# --- work orders -------------------------------------------------------------------------------------


class WorkOrderFilterIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=WorkOrderStatus.choices, required=False)
    site_id = serializers.CharField(required=False, max_length=64, help_text="Site.code")
    miner_id = serializers.CharField(required=False, max_length=128, help_text="edge miner id")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    cursor = serializers.CharField(required=False, allow_blank=True)


class WorkOrderCreateIn(serializers.Serializer):
    site_id = serializers.CharField(required=False, max_length=64, help_text="Site.code (or give alert_id)")
    miner_id = serializers.CharField(required=False, max_length=128, help_text="edge miner id at the site")
    alert_id = serializers.IntegerField(required=False, help_text="open the order from this alert")
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=20_000)
    priority = serializers.ChoiceField(choices=WorkOrderPriority.choices, default=WorkOrderPriority.NORMAL)
    assignee = serializers.CharField(required=False, allow_null=True, max_length=150, help_text="username")

    def validate(self, data):
        if "site_id" not in data and "alert_id" not in data:
            raise serializers.ValidationError({"site_id": ["give site_id or alert_id"]})
        return data


class WorkOrderTransitionIn(serializers.Serializer):
    to = serializers.ChoiceField(choices=WorkOrderStatus.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class WorkOrderCommentIn(serializers.Serializer):
    body = serializers.CharField(max_length=10_000)
    public = serializers.BooleanField(default=False, help_text="customers see public comments only")


class WorkOrderAssignIn(serializers.Serializer):
    assignee = serializers.CharField(allow_null=True, max_length=150, help_text="username; null unassigns")


class WorkOrderOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    status = serializers.CharField()
    next_statuses = serializers.SerializerMethodField()
    priority = serializers.CharField()
    source = serializers.CharField()
    site_id = serializers.CharField(source="site.code")
    miner_id = serializers.SerializerMethodField()
    tenant = serializers.SerializerMethodField()
    alert_id = serializers.IntegerField(allow_null=True)
    assignee = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)

    def get_next_statuses(self, obj) -> list[str]:
        return sorted(WORK_ORDER_TRANSITIONS[obj.status]) if _is_operator(self.context) else []

    def get_miner_id(self, obj) -> str | None:
        return _miner_id(obj)

    def get_tenant(self, obj) -> str | None:
        return obj.tenant.slug if obj.tenant_id else None

    def get_assignee(self, obj) -> str | None:
        return _username(obj.assignee) if _is_operator(self.context) else None


class WorkOrderCommentOut(serializers.Serializer):
    id = serializers.IntegerField()
    body = serializers.CharField()
    public = serializers.BooleanField()
    author = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_author(self, obj) -> str | None:
        # Customers see that the hosting provider wrote it, not which person.
        return _username(obj.author) if _is_operator(self.context) else "staff"


class WorkOrderEventOut(serializers.Serializer):
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    actor = serializers.SerializerMethodField()
    reason = serializers.CharField()
    at = serializers.DateTimeField()

    def get_actor(self, obj) -> str:
        return obj.actor_label if _is_operator(self.context) else "staff"


class WorkOrderDetailOut(WorkOrderOut):
    comments = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()

    def get_comments(self, obj) -> list[dict]:
        return WorkOrderCommentOut(self.context["comments"], many=True, context=self.context).data

    def get_history(self, obj) -> list[dict]:
        return WorkOrderEventOut(self.context["history"], many=True, context=self.context).data


# --- alerts ------------------------------------------------------------------------------------------


class AlertFilterIn(serializers.Serializer):
    state = serializers.ChoiceField(choices=AlertState.choices, required=False)
    severity = serializers.ChoiceField(choices=AlertSeverity.choices, required=False)
    kind = serializers.CharField(required=False, max_length=32)
    site_id = serializers.CharField(required=False, max_length=64)
    miner_id = serializers.CharField(required=False, max_length=128)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    cursor = serializers.CharField(required=False, allow_blank=True)


class AlertRaiseIn(serializers.Serializer):
    site_id = serializers.CharField(max_length=64)
    miner_id = serializers.CharField(required=False, max_length=128)
    kind = serializers.CharField(max_length=32)
    title = serializers.CharField(max_length=200)
    severity = serializers.ChoiceField(choices=AlertSeverity.choices, default=AlertSeverity.WARNING)
    details = serializers.DictField(required=False, default=dict)
    dedupe_key = serializers.CharField(required=False, max_length=200)


class HostingReasonIn(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class AlertOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    title = serializers.CharField()
    severity = serializers.CharField()
    source = serializers.CharField()
    state = serializers.CharField()
    site_id = serializers.CharField(source="site.code")
    miner_id = serializers.SerializerMethodField()
    details = serializers.SerializerMethodField()
    dedupe_key = serializers.CharField()
    fired_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = serializers.SerializerMethodField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    rule_id = serializers.IntegerField(allow_null=True)

    def get_miner_id(self, obj) -> str | None:
        return _miner_id(obj)

    def get_details(self, obj) -> dict:
        return obj.details if _is_operator(self.context) else {}

    def get_acknowledged_by(self, obj) -> str | None:
        return _username(obj.acknowledged_by) if _is_operator(self.context) else None


# --- maintenance -------------------------------------------------------------------------------------


class WindowFilterIn(serializers.Serializer):
    site_id = serializers.CharField(required=False, max_length=64)
    # A ChoiceField: DRF reads a BooleanField missing from a query string as false.
    active = serializers.ChoiceField(
        choices=["true", "false"], required=False, help_text="true: not canceled and not over"
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    cursor = serializers.CharField(required=False, allow_blank=True)


class WindowCreateIn(serializers.Serializer):
    site_id = serializers.CharField(max_length=64)
    zone = serializers.CharField(required=False, max_length=64, help_text="Zone.code at the site")
    miner_id = serializers.CharField(required=False, max_length=128)
    reason = serializers.CharField(max_length=500)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(required=False, help_text="one-off windows")
    weekdays = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="weekly: 0 = Monday … 6 = Sunday"
    )
    start_time = serializers.TimeField(required=False, help_text="weekly: local start time")
    duration_minutes = serializers.IntegerField(required=False, help_text="weekly")
    timezone = serializers.CharField(required=False, max_length=64, help_text="IANA name; default: the site's")
    expires_at = serializers.DateTimeField(required=False, help_text="weekly: stop recurring from then")


class WindowExpireIn(HostingReasonIn):
    at = serializers.DateTimeField(required=False, help_text="default now")


class WindowOut(serializers.Serializer):
    id = serializers.IntegerField()
    site_id = serializers.CharField(source="site.code")
    zone = serializers.SerializerMethodField()
    miner_id = serializers.SerializerMethodField()
    scope = serializers.CharField(source="scope_label")
    reason = serializers.CharField()
    recurring = serializers.BooleanField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(allow_null=True)
    weekdays = serializers.ListField(child=serializers.IntegerField())
    start_time = serializers.TimeField(allow_null=True)
    duration_minutes = serializers.IntegerField(allow_null=True)
    timezone = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    canceled_at = serializers.DateTimeField(allow_null=True)
    owner = serializers.SerializerMethodField()

    def get_zone(self, obj) -> str | None:
        return obj.zone.code if obj.zone_id else None

    def get_miner_id(self, obj) -> str | None:
        return _miner_id(obj)

    def get_owner(self, obj) -> str | None:
        return _username(obj.owner) if _is_operator(self.context) else None
