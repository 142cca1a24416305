"""OpenAPI description of collector and personal-token authentication (drf-spectacular extensions)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class CollectorTokenScheme(OpenApiAuthenticationExtension):
    """Either header alone is accepted (tenants.collector_auth.presented_token): two alternative
    schemes (OR), so a generated client is not told X-Collector-Key is required."""

    target_class = "tenants.collector_auth.CollectorTokenAuthentication"
    name = ["collectorToken", "collectorBearer"]
    priority = 1

    def get_security_requirement(self, auto_schema):
        return [{"collectorToken": []}, {"collectorBearer": []}]

    def get_security_definition(self, auto_schema):
        site = "`X-Site-ID` must be the token's site (its code or one of its aliases): otherwise 403 SITE_MISMATCH."
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-Collector-Key",
                "description": "Collector token (or `Authorization: Bearer <token>` instead). A key sent but "
                f"invalid is 401 INVALID_TOKEN, whatever else the request carries. {site}",
            },
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "collector token",
                "description": f"Collector token as `Authorization: Bearer <token>` (or in X-Collector-Key). {site}",
            },
        ]


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
