"""OpenAPI description of collector and personal-token authentication (drf-spectacular extensions)."""

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


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.token_auth.PersonalTokenAuthentication"
    name = "personalToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "hip_…",
            "description": "Personal API token (`Authorization: Bearer hip_…`), created at /accounts/tokens/ or "
            "POST /api/v1/me/tokens. It carries exactly its owner's scope; a read-only token gets 403 "
            "TOKEN_READ_ONLY on any write. 401 TOKEN_INVALID / TOKEN_EXPIRED / TOKEN_REVOKED.",
        }
