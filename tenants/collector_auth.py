"""How collectors authenticate (SPEC §4): token in X-Collector-Key or Authorization: Bearer,
X-Site-ID must be the token's site. Unknown/revoked → 401, another site → 403."""

from dataclasses import dataclass

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from tenants.models import CollectorToken
from tenants.services import collector_token_lookup, collector_token_touch


class InvalidCollectorToken(exceptions.AuthenticationFailed):
    error_code = "INVALID_TOKEN"


class SiteMismatch(exceptions.PermissionDenied):
    error_code = "SITE_MISMATCH"


@dataclass
class CollectorPrincipal:
    """request.user for collector calls: never a person, never staff."""

    token: CollectorToken
    device_id: str

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    @property
    def collector(self):
        return self.token.collector

    @property
    def site(self):
        return self.token.collector.site

    def get_username(self) -> str:
        return f"collector:{self.token.collector}"


def presented_token(request) -> str:
    key = request.META.get("HTTP_X_COLLECTOR_KEY", "").strip()
    if key:
        return key
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return ""


class CollectorTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        raw = presented_token(request)
        if not raw:
            return None
        token = collector_token_lookup(raw)
        if token is None:
            raise InvalidCollectorToken("unknown, expired or revoked collector token")
        site_header = request.META.get("HTTP_X_SITE_ID", "").strip()
        if site_header and site_header != token.collector.site.code:
            raise SiteMismatch(f"token belongs to another site than {site_header!r}")
        device_id = request.META.get("HTTP_X_DEVICE_ID", "") or request.META.get("HTTP_X_EDGE_ID", "")
        collector_token_touch(
            token=token, device_id=device_id.strip(), resolution_sec=settings.COLLECTOR_TOKEN_LAST_USED_RESOLUTION_SEC
        )
        return CollectorPrincipal(token=token, device_id=device_id.strip()), token

    def authenticate_header(self, request):
        return 'Bearer realm="collector"'


class IsCollector(BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, CollectorPrincipal)
