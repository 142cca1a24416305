"""OpenAPI description of collector authentication (drf-spectacular extension)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class CollectorTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.collector_auth.CollectorTokenAuthentication"
    name = "collectorToken"
    priority = 1

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Collector-Key",
            "description": "Collector token (also accepted as `Authorization: Bearer <token>`). "
            "`X-Site-ID` must be the token's site (its code or one of its aliases): otherwise 403 SITE_MISMATCH.",
        }
