"""How collectors authenticate (SPEC §4): token in X-Collector-Key or Authorization: Bearer,
X-Site-ID (and a `site_id` query parameter) must name the token's site: its code or one of its
aliases (tenants.site_identity). Unknown/revoked → 401, another or unknown site → 403. Then the
site's edge rules (tenants.edge_guard): source-network allowlist → 403, mTLS → 401."""

from dataclasses import dataclass

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from tenants.edge_guard import edge_check
from tenants.models import CollectorToken
from tenants.personal_tokens import PERSONAL_TOKEN_PREFIX
from tenants.services import collector_token_lookup, collector_token_touch
from tenants.site_identity import site_matches


class InvalidCollectorToken(exceptions.AuthenticationFailed):
    error_code = "INVALID_TOKEN"


class SiteMismatch(exceptions.PermissionDenied):
    error_code = "SITE_MISMATCH"


@dataclass
class CollectorPrincipal:
    """request.user for collector calls: never a person, never staff."""

    token: CollectorToken
    device_id: str
    #: the site id this collector sent (X-Site-ID, else a query or path site id); "" when none
    site_id: str = ""

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

    @property
    def wire_site_id(self) -> str:
        """The site_id of the command objects handed to this collector: the value it calls its
        site by, since it refuses a command whose site_id differs from its own (COLLECTOR_PROTOCOL §3.2)."""
        return self.site_id or self.site.code

    def site_check(self, value: str) -> None:
        """A site id the request names (header, query, path) must be a name of the token's site."""
        if not value:
            return
        if not site_matches(self.site, value):
            raise SiteMismatch("the site id sent is not a name of this token's site")
        if not self.site_id:
            self.site_id = value

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
        if not raw or raw.startswith(PERSONAL_TOKEN_PREFIX):
            # A person's token is no collector credential: left to the next class, if the route has one.
            return None
        token = collector_token_lookup(raw)
        if token is None:
            raise InvalidCollectorToken("unknown, expired or revoked collector token")
        device_id = request.META.get("HTTP_X_DEVICE_ID", "") or request.META.get("HTTP_X_EDGE_ID", "")
        principal = CollectorPrincipal(token=token, device_id=device_id.strip())
        principal.site_check(request.META.get("HTTP_X_SITE_ID", "").strip())
        principal.site_check(request.GET.get("site_id", "").strip())
        edge_check(request, token)
        collector_token_touch(
            token=token, device_id=principal.device_id, resolution_sec=settings.COLLECTOR_TOKEN_LAST_USED_RESOLUTION_SEC
        )
        return principal, token

    def authenticate_header(self, request):
        return 'Bearer realm="collector"'


class IsCollector(BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, CollectorPrincipal)
