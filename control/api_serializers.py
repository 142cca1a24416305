"""The operator command API's shapes: what it reads (FilterIn, CreateIn, ReasonIn) and writes
(CommandOut and the detail's attempts, ACKs and audit events), and its one error shape."""

from rest_framework import serializers

from audit.models import AuditEvent
from control.api_fields import CommandTypeField
from control.errors import InvalidParams
from control.models import (
    Command,
    CommandAck,
    CommandAttempt,
    CommandState,
    CommandType,
    PriorityClass,
)
from control.selectors import command_events, command_get_for
from control.services import params
from core.errors import Forbidden

CLASS_NAMES = {c.value: c.name.lower() for c in PriorityClass}
CLASS_BY_NAME = {name: value for value, name in CLASS_NAMES.items()}
LIST_RELATED = ("site", "zone", "miner", "created_by", "approved_by")


def valid(serializer_class, data) -> dict:
    """Validate, or INVALID_PARAMS naming the first bad field (the commands API's one error shape)."""
    s = serializer_class(data=data)
    if not s.is_valid():
        name, errors = next(iter(s.errors.items()))
        message = errors[0] if isinstance(errors, list) and errors else str(errors)
        raise InvalidParams(name, str(message))
    return s.validated_data


def forbidden() -> Forbidden:
    # Missing and out of scope answer the same (SPEC §2): nothing tells whether it exists.
    return Forbidden("no such command in your scope")


def command_or_403(request, pk) -> Command:
    command = command_get_for(request.user, pk)
    if command is None:
        raise forbidden()
    return command


class CommandOut(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    command_type = serializers.CharField()
    params = serializers.SerializerMethodField()
    priority_class = serializers.SerializerMethodField()
    priority = serializers.IntegerField()
    emergency = serializers.BooleanField()
    site_id = serializers.CharField(source="site.code")
    zone_id = serializers.SerializerMethodField()
    miner_id = serializers.CharField(source="miner.miner_id")
    reason = serializers.CharField()
    blocked_reason = serializers.CharField()
    approval_required = serializers.BooleanField()
    approval_expires_at = serializers.DateTimeField(allow_null=True)
    approved_by = serializers.SerializerMethodField()
    approved_at = serializers.DateTimeField(allow_null=True)
    decided_reason = serializers.CharField()
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    ttl_sec = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    attempt = serializers.IntegerField()
    lease_epoch = serializers.IntegerField()
    lease_until = serializers.DateTimeField(allow_null=True)
    outcome = serializers.CharField()
    error_code = serializers.CharField()
    error_message = serializers.CharField()
    dedupe_key = serializers.CharField(allow_null=True)
    batch_id = serializers.UUIDField(allow_null=True)
    group = serializers.IntegerField(source="group_id", allow_null=True)
    rollback_of = serializers.IntegerField(source="rollback_of_id", allow_null=True)
    superseded_by = serializers.IntegerField(source="superseded_by_id", allow_null=True)

    def get_params(self, c) -> dict:
        return params.redact(c.params)

    def get_priority_class(self, c) -> str:
        return CLASS_NAMES.get(c.priority_class, str(c.priority_class))

    def get_zone_id(self, c) -> str | None:
        return c.zone.code if c.zone_id else None

    def get_approved_by(self, c) -> str | None:
        return c.approved_by.get_username() if c.approved_by_id else None

    def get_created_by(self, c) -> str:
        return c.created_by.get_username() if c.created_by_id else f"system:{c.created_by_system or 'unknown'}"


class AttemptOut(serializers.ModelSerializer):
    collector = serializers.CharField(source="collector.name")

    class Meta:
        model = CommandAttempt
        fields = (
            "attempt",
            "wire_id",
            "lease_epoch",
            "collector",
            "device_id",
            "leased_at",
            "lease_until",
            "lease_ended_at",
            "lease_end_reason",
            "ack_status",
            "result_code",
            "error_class",
            "result_message",
            "before",
            "after",
            "acked_at",
        )


class AckOut(serializers.ModelSerializer):
    class Meta:
        model = CommandAck
        fields = ("wire_id", "device_id", "endpoint", "received_at", "disposition", "payload")


class EventOut(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ("id", "occurred_at", "action", "actor_type", "actor_label", "payload", "chain_key", "seq", "hash")


class CommandDetailOut(CommandOut):
    attempts = serializers.SerializerMethodField()
    acks = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()

    def get_attempts(self, c) -> list:
        return AttemptOut(c.attempts.select_related("collector").order_by("attempt", "lease_epoch"), many=True).data

    def get_acks(self, c) -> list:
        return AckOut(c.acks.order_by("received_at", "pk"), many=True).data

    def get_events(self, c) -> list:
        return EventOut(command_events(c), many=True).data


class FilterIn(serializers.Serializer):
    site_id = serializers.CharField(required=False, max_length=64)
    miner_id = serializers.CharField(required=False, max_length=128)
    state = serializers.ChoiceField(choices=CommandState.values, required=False)
    type = serializers.ChoiceField(choices=CommandType.values, required=False)
    batch_id = serializers.UUIDField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    cursor = serializers.CharField(required=False, allow_blank=True)


class CreateIn(serializers.Serializer):
    site_id = serializers.CharField(max_length=64)
    miner_id = serializers.CharField(required=False, max_length=128)
    miners = serializers.ListField(
        child=serializers.CharField(max_length=128), required=False, allow_empty=False, min_length=1, max_length=5000
    )
    group = serializers.CharField(required=False, max_length=200)
    command_type = CommandTypeField()
    params = serializers.JSONField(required=False, default=dict)
    priority_class = serializers.ChoiceField(choices=list(CLASS_BY_NAME), default="convenience")
    priority = serializers.IntegerField(default=0, min_value=-1000, max_value=1000)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    ttl_sec = serializers.IntegerField(required=False)
    emergency = serializers.BooleanField(default=False)
    dedupe_key = serializers.CharField(required=False, max_length=160)
    dry_run = serializers.BooleanField(default=False)

    def validate(self, data):
        given = [k for k in ("miner_id", "miners", "group") if k in data]
        if len(given) != 1:
            raise serializers.ValidationError({"miner_id": "give exactly one of miner_id, miners, group"})
        return data


class ReasonIn(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
