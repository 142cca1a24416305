"""DRF authentication for people (browsers and scripts)."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication answers anonymous callers 403, because without a
    WWW-Authenticate value it cannot say 401. SPEC §2: anonymous API callers get 401
    (error_code UNAUTHENTICATED), so name the scheme the browser signs in with."""

    def authenticate_header(self, request):
        return 'Session realm="hashinsight"'


class SessionScheme(OpenApiAuthenticationExtension):
    """OpenAPI: the same cookie scheme as DRF's class (drf-spectacular matches classes exactly)."""

    target_class = "core.api.authentication.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}
