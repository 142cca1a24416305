from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from core.api.pagination import PageSchema, filter_by, paginated
from tenants import scoping
from tenants.permissions import IsOperator

ORDERING = ("-occurred_at", "-id")
LOOKUPS = {
    "entity_type": "entity_type",
    "entity_id": "entity_id",
    "action": "action",
    "since": "occurred_at__gte",
    "until": "occurred_at__lt",
}


class AuditEventListApi(APIView):
    """GET /api/admin/v1/audit — audit events in the caller's scope, newest first."""

    pagination_class = PageSchema  # the schema's page shape; the view answers with `paginated`

    # Redundant once REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] names this class.
    permission_classes = [IsOperator]

    class FilterSerializer(serializers.Serializer):
        entity_type = serializers.CharField(required=False, max_length=64)
        entity_id = serializers.CharField(required=False, max_length=128)
        action = serializers.CharField(required=False, max_length=128)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=1000)
        cursor = serializers.CharField(required=False, allow_blank=True)

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
        qs = filter_by(scoping.audit_events_for(request.user), f, LOOKUPS)
        return paginated(request, qs, lambda rows: self.OutputSerializer(rows, many=True).data, ordering=ORDERING)
