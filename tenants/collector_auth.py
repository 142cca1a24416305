"""How collectors authenticate (SPEC §4): token in X-Collector-Key or Authorization: Bearer,
X-Site-ID (and a `site_id` query parameter) must name the token's site: its code or one of its
aliases (tenants.site_identity). Unknown/revoked/expired → 401, another or unknown site → 403. Then
the site's edge rules (tenants.edge_guard): source-network allowlist → 403, mTLS → 401.

The token (with its collector and site) comes from the per-process cache of resolved tokens
(tenants.collector_auth_cache) when it holds it, so a collector's steady requests cost no query
here; its expiry, the site check and the edge rules are still checked on every request."""

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from tenants import collector_auth_cache
from tenants.edge_guard import edge_check
from tenants.models import CollectorToken
from tenants.personal_tokens import PERSONAL_TOKEN_PREFIX
from tenants.services import collector_token_lookup, collector_token_touch, token_digest
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


def presented_token(request) -> str | None:
    """The collector credential the request presents: None when it presents none, "" when it
    presents an empty one. X-Collector-Key is only ever a collector key, so any value there is
    a claim (a person's hip_ token included: 401, not a fall-through to the session cookie beside
    it); a blank one defers to a Bearer token; a Bearer hip_ token is left to the personal-token class."""
    key = request.META.get("HTTP_X_COLLECTOR_KEY")
    if key is not None and key.strip():
        return key.strip()
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    if auth.strip().lower() == "bearer" or auth[:7].lower() == "bearer ":
        raw = auth[7:].strip()
        return None if raw.startswith(PERSONAL_TOKEN_PREFIX) else raw
    return None if key is None else ""  # a blank X-Collector-Key alone is still a (failed) claim


def collector_token_resolve(raw: str) -> CollectorToken | None:
    """The active token for a presented secret: from the auth cache, else looked up (and kept).
    A cached token past its expires_at is refused: expiry needs no change to be noticed."""
    if not raw:
        return None
    digest = token_digest(raw)
    token = collector_auth_cache.cached_token(digest)
    if token is None:
        since = collector_auth_cache.generation()
        token = collector_token_lookup(raw)
        if token is not None:
            collector_auth_cache.cache_token(digest, token, since_generation=since)
        return token
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return None
    return token


class CollectorTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        raw = presented_token(request)
        if raw is None:
            return None  # no collector credential: left to the next class, if the route has one
        token = collector_token_resolve(raw)
        if token is None:
            raise InvalidCollectorToken("unknown, expired or revoked collector token")
        device_id = request.META.get("HTTP_X_DEVICE_ID", "") or request.META.get("HTTP_X_EDGE_ID", "")
        principal = CollectorPrincipal(token=token, device_id=device_id.strip())
        principal.site_check(request.META.get("HTTP_X_SITE_ID", "").strip())
        principal.site_check(request.GET.get("site_id", "").strip())
        edge_check(request, token)
        collector_token_touch(
            token=token,
            device_id=principal.device_id,
            resolution_sec=settings.COLLECTOR_TOKEN_LAST_USED_RESOLUTION_SEC,
            user_agent=request.META.get("HTTP_USER_AGENT", "").strip(),
        )
        return principal, token

    def authenticate_header(self, request):
        return 'Bearer realm="collector"'


class IsCollector(BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, CollectorPrincipal)
