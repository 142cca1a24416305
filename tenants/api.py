from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.collector_auth import CollectorTokenAuthentication, IsCollector


class CollectorStatusApi(APIView):
    """GET /api/collector/status — a collector checks its credentials and sees what the cloud knows of it."""

    authentication_classes = [CollectorTokenAuthentication]
    permission_classes = [IsCollector]

    @extend_schema(
        responses=inline_serializer(
            "CollectorStatus",
            {
                "success": serializers.BooleanField(),
                "site_id": serializers.CharField(),
                "zone_id": serializers.CharField(),
                "collector": serializers.CharField(),
                "token_prefix": serializers.CharField(),
                "device_id": serializers.CharField(),
                "server_time": serializers.DateTimeField(),
            },
        )
    )
    def get(self, request):
        principal = request.user
        collector = principal.collector
        return Response(
            {
                "success": True,
                "site_id": collector.site.code,
                "zone_id": collector.zone.code if collector.zone_id else "",
                "collector": collector.name,
                "token_prefix": principal.token.prefix,
                "device_id": principal.device_id,
                "server_time": timezone.now(),
            }
        )
