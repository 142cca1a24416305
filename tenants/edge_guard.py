"""The edge checks of a collector request after its token is known (SPEC §4): the site's
source-network allowlist and mTLS. Called from the one collector-auth place
(tenants.collector_auth), so every collector endpoint, legacy and v1, gets them.

Who the client is: REMOTE_ADDR, unless REMOTE_ADDR is a trusted proxy (EDGE_TRUSTED_PROXIES),
then the last hop of X-Forwarded-For that is not a trusted proxy. The client-certificate headers
are believed only from a trusted proxy: from anyone else they could be forged."""

import ipaddress
from functools import lru_cache
from typing import NoReturn

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions

from core.errors import InvalidParameter
from tenants.edge_security import edge_security_of, fingerprint_normalize, pem_fingerprint
from tenants.metrics import edge_refusals_total
from tenants.models import CollectorCertificate, CollectorToken

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class EdgeUnauthorized(exceptions.AuthenticationFailed):
    def __init__(self, error_code: str, detail: str):
        super().__init__(detail)
        self.error_code = error_code


class EdgeForbidden(exceptions.PermissionDenied):
    def __init__(self, error_code: str, detail: str):
        super().__init__(detail)
        self.error_code = error_code


def _refuse(exc: EdgeUnauthorized | EdgeForbidden) -> NoReturn:
    edge_refusals_total.labels(error_code=exc.error_code).inc()
    raise exc


@lru_cache(maxsize=64)
def _networks(values: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


def _address(value: str) -> IPAddress | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[v6]:port"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "v4:port"
        value = value.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return None
    # An IPv4 client seen through a dual-stack socket reads ::ffff:a.b.c.d.
    return addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped else addr


def _within(addr: IPAddress | None, networks) -> bool:
    return addr is not None and any(addr.version == net.version and addr in net for net in networks)


def from_trusted_proxy(request) -> bool:
    return _within(_address(request.META.get("REMOTE_ADDR", "")), _networks(tuple(settings.EDGE_TRUSTED_PROXIES)))


def client_ip(request) -> IPAddress | None:
    """The address the request came from, proxies we trust looked through; None if unreadable."""
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    trusted = _networks(tuple(settings.EDGE_TRUSTED_PROXIES))
    if not _within(remote, trusted):
        return remote
    hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    client = remote
    for hop in reversed(hops):
        client = _address(hop)
        if not _within(client, trusted):
            break  # the first hop we did not add ourselves: what it says before it cannot be trusted
    return client


def _header(request, name: str) -> str:
    return request.META.get("HTTP_" + name.upper().replace("-", "_"), "").strip()


def presented_fingerprint(request) -> str | None:
    """SHA-256 of the client certificate the terminator passed: from the PEM header, else from the
    fingerprint header; None when there is none or it is not SHA-256."""
    pem = _header(request, settings.EDGE_MTLS_CERT_HEADER) if settings.EDGE_MTLS_CERT_HEADER else ""
    if pem:
        return pem_fingerprint(pem)
    raw = _header(request, settings.EDGE_MTLS_FINGERPRINT_HEADER) if settings.EDGE_MTLS_FINGERPRINT_HEADER else ""
    try:
        return fingerprint_normalize(raw) if raw else None
    except InvalidParameter:  # nginx's own $ssl_client_fingerprint is SHA-1: never registered here
        return None


def edge_check(request, token: CollectorToken) -> None:
    """Refuse the request when its site's allowlist or mTLS says so: 403 SOURCE_NOT_ALLOWED,
    401 MTLS_UNTRUSTED_PROXY / MTLS_NOT_VERIFIED / MTLS_CERT_UNKNOWN / MTLS_CERT_REVOKED /
    MTLS_CERT_EXPIRED. A site with neither on costs nothing here (its row came with the token)."""
    sec = edge_security_of(token.collector.site)
    if sec.source_networks and not _within(client_ip(request), _networks(tuple(sec.source_networks))):
        _refuse(EdgeForbidden("SOURCE_NOT_ALLOWED", "this site accepts collectors from its allowed networks only"))
    if not sec.mtls_required:
        return
    if not from_trusted_proxy(request):
        _refuse(EdgeUnauthorized("MTLS_UNTRUSTED_PROXY", "this site requires mTLS through the trusted TLS terminator"))
    if _header(request, settings.EDGE_MTLS_VERIFY_HEADER) != "SUCCESS":
        _refuse(EdgeUnauthorized("MTLS_NOT_VERIFIED", "this site requires a verified client certificate"))
    fingerprint = presented_fingerprint(request)
    cert = (
        CollectorCertificate.objects.filter(collector_id=token.collector_id, fingerprint_sha256=fingerprint).first()
        if fingerprint
        else None
    )
    if cert is None:
        _refuse(EdgeUnauthorized("MTLS_CERT_UNKNOWN", "this client certificate is not registered for this collector"))
    if cert.revoked_at is not None:
        _refuse(EdgeUnauthorized("MTLS_CERT_REVOKED", "this client certificate was revoked"))
    if cert.not_after <= timezone.now():
        _refuse(EdgeUnauthorized("MTLS_CERT_EXPIRED", "this client certificate is past its not-after date"))
