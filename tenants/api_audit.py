from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.views import APIView

from tenants import scoping
from tenants.permissions import IsOperator


class AuditEventPagination(CursorPagination):
    ordering = ("-occurred_at", "-id")
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "limit"


class AuditEventListApi(APIView):
    """GET /api/admin/v1/audit — audit events in the caller's scope, newest first."""

    # Redundant once REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] names this class.
    permission_classes = [IsOperator]

    class FilterSerializer(serializers.Serializer):
        entity_type = serializers.CharField(required=False, max_length=64)
        entity_id = serializers.CharField(required=False, max_length=128)
        action = serializers.CharField(required=False, max_length=128)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=1000)
        cursor = serializers.CharField(required=False)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        chain = serializers.CharField(source="chain_key")
        seq = serializers.IntegerField()
        occurred_at = serializers.DateTimeField()
        actor_type = serializers.CharField()
        actor_id = serializers.CharField()
        actor_label = serializers.CharField()
        action = serializers.CharField()
        entity_type = serializers.CharField()
        entity_id = serializers.CharField()
        tenant_id = serializers.IntegerField(allow_null=True)
        site_id = serializers.CharField(source="site_code", allow_null=True)
        payload = serializers.JSONField()
        prev_hash = serializers.CharField()
        hash = serializers.CharField()

    @extend_schema(parameters=[FilterSerializer], responses=OutputSerializer(many=True))
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        qs = scoping.audit_events_for(request.user)
        if "entity_type" in f:
            qs = qs.filter(entity_type=f["entity_type"])
        if "entity_id" in f:
            qs = qs.filter(entity_id=f["entity_id"])
        if "action" in f:
            qs = qs.filter(action=f["action"])
        if "since" in f:
            qs = qs.filter(occurred_at__gte=f["since"])
        if "until" in f:
            qs = qs.filter(occurred_at__lt=f["until"])
        paginator = AuditEventPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)
