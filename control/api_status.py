from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from control.selectors_collector_status import collector_status_get, collector_status_list
from telemetry import legacy_shapes as shapes
from telemetry import selectors
from tenants.collector_auth import CollectorPrincipal, CollectorTokenAuthentication
from tenants.collector_throttle import CollectorPollThrottle


class CollectorHealthDevice(serializers.Serializer):
    device_id = serializers.CharField()
    token_prefixes = serializers.ListField(child=serializers.CharField())
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    user_agent = serializers.CharField(help_text="User-Agent of its newest request")
    version = serializers.CharField(help_text="version of its newest /api/edge/v1/register; '' if none")


class CollectorHealthVersion(serializers.Serializer):
    user_agent = serializers.CharField()
    version = serializers.CharField()
    devices = serializers.IntegerField()
    last_seen = serializers.DateTimeField()


class CollectorHealthUploads(serializers.Serializer):
    uploads = serializers.IntegerField()
    records = serializers.IntegerField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    channels = serializers.DictField(
        child=serializers.IntegerField(), help_text="receipts per endpoint/body format (legacy/list, v1/envelope)"
    )


class CollectorHealthUnknownAcks(serializers.Serializer):
    last_hour = serializers.IntegerField()
    last_at = serializers.DateTimeField(allow_null=True)
    last_wire_id = serializers.CharField(allow_null=True)


class CollectorStatusHealth(serializers.Serializer):
    """What to check first when a site looks dark (docs/OPERATIONS.md "A site looks dark")."""

    last_upload = serializers.DateTimeField(allow_null=True, help_text="newest upload receipt")
    last_poll = serializers.DateTimeField(
        allow_null=True,
        help_text="newest command poll, to the microsecond (kept in Redis by every poll; where Redis has none, "
        "the database's copy, written once per COLLECTOR_TOKEN_LAST_USED_RESOLUTION_SEC)",
    )
    online = serializers.BooleanField(help_text="uploaded within TELEMETRY_STALE_SEC")
    devices = CollectorHealthDevice(many=True)
    versions = CollectorHealthVersion(many=True, help_text="the (User-Agent, version) pairs its devices last reported")
    uploads_last_hour = CollectorHealthUploads(help_text="upload receipts of the last hour")
    rejected_reasons_last_hour = serializers.DictField(
        child=serializers.IntegerField(), help_text="rejected records of the last hour by error_code"
    )
    quarantined = serializers.IntegerField(help_text="encrypted uploads held until its payload key opens them")
    unknown_acks = CollectorHealthUnknownAcks(
        help_text="ACKs for command ids its site was never handed (answered 200, kept, changed nothing)"
    )


_SELF_CHECK = inline_serializer(
    "CollectorStatus",
    {
        "success": serializers.BooleanField(),
        "site_id": serializers.CharField(),
        "zone_id": serializers.CharField(),
        "collector": serializers.CharField(),
        "token_prefix": serializers.CharField(),
        "device_id": serializers.CharField(),
        "server_time": serializers.DateTimeField(),
        "data": inline_serializer(
            "CollectorStatusOriginal",
            {
                "site_id": serializers.IntegerField(
                    help_text="the original's integer site id (legacy_id alias, else pk)"
                ),
                "total_miners": serializers.IntegerField(help_text="miners of the site that ever reported"),
                "online_miners": serializers.IntegerField(help_text="of those, the ones whose last sample said online"),
                "last_upload": serializers.CharField(allow_null=True, help_text="naive UTC ISO-8601, no Z"),
                "collector_name": serializers.CharField(),
            },
            help_text="the original application's answer (its collectors and manual read `data`)",
        ),
        "health": CollectorStatusHealth(),
    },
)
_SITES = inline_serializer(
    "CollectorSiteStatus",
    {
        "success": serializers.BooleanField(),
        "sites": inline_serializer(
            "CollectorSiteStatusSite",
            {
                "site_id": serializers.CharField(),
                "collectors": inline_serializer(
                    "CollectorSiteStatusCollector",
                    {
                        "name": serializers.CharField(),
                        "zone": serializers.CharField(allow_null=True),
                        "last_seen": serializers.DateTimeField(
                            allow_null=True, help_text="newest use of any of its tokens"
                        ),
                        "devices": serializers.ListField(
                            child=serializers.CharField(), help_text="X-Device-IDs its tokens were used from"
                        ),
                        "online": serializers.BooleanField(help_text="uploaded within TELEMETRY_STALE_SEC"),
                        "health": CollectorStatusHealth(),
                    },
                    many=True,
                    allow_null=True,
                    help_text="operators only; null for customers",
                ),
                "miners": inline_serializer(
                    "CollectorSiteStatusMiners",
                    {state: serializers.IntegerField() for state in selectors.STATES},
                    help_text="miners per state, counting only the miners you may see",
                ),
            },
            many=True,
        ),
    },
)


class CollectorStatusApi(APIView):
    """GET /api/collector/status — a collector checks its credentials and sees what the cloud knows
    of it; a signed-in person gets the state of the sites they may see (SPEC §11)."""

    # Collector token first: a wrong token answers 401 even next to a session cookie.
    authentication_classes = [CollectorTokenAuthentication, *APIView.authentication_classes]
    throttle_classes = [CollectorPollThrottle]  # collectors only; people pass through

    @extend_schema(
        responses={
            200: PolymorphicProxySerializer(
                "CollectorStatusAnswer", serializers=[_SELF_CHECK, _SITES], resource_type_field_name=None
            ),
            401: OpenApiResponse(
                description="UNAUTHENTICATED / INVALID_TOKEN; on a site requiring mTLS MTLS_UNTRUSTED_PROXY / "
                "MTLS_NOT_VERIFIED / MTLS_CERT_UNKNOWN / MTLS_CERT_REVOKED / MTLS_CERT_EXPIRED"
            ),
            403: OpenApiResponse(
                description="SITE_MISMATCH: the token is of another site than X-Site-ID; SOURCE_NOT_ALLOWED: "
                "outside the site's source-network allowlist"
            ),
            429: OpenApiResponse(description="RATE_LIMITED (collectors): COLLECTOR_POLL_RATE exceeded; Retry-After"),
        },
        description="With a collector token: the token's self-check, under `data` the original "
        "application's answer, and under `health` the collector's status. Signed in: per site you may see, "
        "miner counts per state (your miners only) and, for operators, the site's collectors with their `health`.",
    )
    def get(self, request):
        if isinstance(request.user, CollectorPrincipal):
            return Response(self._self_check(request.user))
        sites = selectors.site_status_list(request.user, collector_health=collector_status_list)
        return Response({"success": True, "sites": sites})

    @staticmethod
    def _self_check(principal: CollectorPrincipal) -> dict:
        collector = principal.collector
        figures = selectors.collector_site_figures(collector.site)
        return {
            "success": True,
            "site_id": collector.site.code,
            "zone_id": collector.zone.code if collector.zone_id else "",
            "collector": collector.name,
            "token_prefix": principal.token.prefix,
            "device_id": principal.device_id,
            "server_time": timezone.now(),
            "data": shapes.status_data(
                site=collector.site,
                collector_name=collector.name,
                counts=figures,
                last_upload=figures["last_upload"],
            ),
            "health": collector_status_get(collector),
        }
