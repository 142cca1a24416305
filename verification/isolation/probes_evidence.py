"""Probes of the evidence pack routes (API, download, portal page): a site where the caller's tenant
has no miners, another tenant's pack id or another tenant's portal page → 403 like a missing one;
the caller's own packs (and, for NOC X, tenant B's pack of site X) are reachable and show nothing of
the other scope."""

import datetime as dt

from django.utils import timezone

from verification.isolation.expect import ApiDenied, ApiUnauthenticated, LoginRedirect, NoAccess, Reachable
from verification.isolation.probes import ANON, CUSTOMER_A_ON_B, CUSTOMER_A_OWN, NOC_X_ON_Y, NOC_X_OWN, Probe
from verification.isolation.probes_api import _missing_like
from verification.isolation.routes import Route
from verification.isolation.world import ACTOR, MISSING_ID, World

EVIDENCE_REQUEST_PATH = "/api/v1/hosting/evidence_pack"
EVIDENCE_PACK_PATHS = ("/api/v1/hosting/evidence_packs/<int:pk>", "/api/v1/hosting/evidence_packs/<int:pk>/download")
PORTAL_EVIDENCE_PATH = "/portal/t/<slug:tenant>/evidence/"


def _period() -> tuple[dt.datetime, dt.datetime]:
    # up to a minute ahead: a world made just now owns its miners from now on
    end = timezone.now().replace(second=0, microsecond=0) + dt.timedelta(minutes=2)
    return end - dt.timedelta(hours=1), end


def _pack(tenant, site, user) -> int:
    """A built pack of `tenant` at `site` requested by `user` (made once through the services, reused)."""
    from hosting.models import EvidencePack
    from hosting.services.evidence import evidence_pack_build, evidence_pack_request

    found = (
        EvidencePack.objects.filter(tenant=tenant, site=site, requested_by=user, status="ready")
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if found is None:
        start, end = _period()
        pack = evidence_pack_request(actor=ACTOR, user=user, site=site, tenant=tenant, start=start, end=end)
        found = evidence_pack_build(pack_id=pack.pk).pk
    return found


def _query(site: str, tenant: str = "") -> str:
    start, end = _period()
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    query = f"{EVIDENCE_REQUEST_PATH}?site_id={site}&from={start.strftime(fmt)}&to={end.strftime(fmt)}"
    return query + (f"&tenant={tenant}" if tenant else "")


def evidence_request_probes(route: Route, w: World) -> list[Probe]:
    x, y, b = w.site_x.code, w.site_y.code, w.tenant_b.slug
    return [
        Probe(route, "GET", ANON, _query(x), ApiUnauthenticated(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, _query(y), ApiDenied(), w.markers_b(), _query(_missing_like(y))),
        Probe(route, "GET", CUSTOMER_A_ON_B, _query(x, b), ApiDenied(), w.markers_b(), _query(x, _missing_like(b))),
        Probe(route, "GET", NOC_X_ON_Y, _query(y, b), ApiDenied(), w.markers_y(), _query(_missing_like(y), b)),
        Probe(route, "GET", CUSTOMER_A_OWN, _query(x), Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, _query(x, b), Reachable(), w.markers_y()),
    ]


def evidence_pack_probes(route: Route, w: World) -> list[Probe]:
    b_x = _pack(w.tenant_b, w.site_x, w.customer_b)
    b_y = _pack(w.tenant_b, w.site_y, w.customer_b)
    a_x = _pack(w.tenant_a, w.site_x, w.customer_a)
    missing = route.fill(pk=MISSING_ID)
    return [
        Probe(route, "GET", ANON, route.fill(pk=a_x), ApiUnauthenticated(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, route.fill(pk=b_x), ApiDenied(), w.markers_b(), missing),
        Probe(route, "GET", NOC_X_ON_Y, route.fill(pk=b_y), ApiDenied(), w.markers_y(), missing),
        Probe(route, "GET", CUSTOMER_A_OWN, route.fill(pk=a_x), Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, route.fill(pk=b_x), Reachable(), w.markers_y()),
    ]


def portal_evidence_probes(route: Route, w: World) -> list[Probe]:
    """The portal page, GET and the request form's POST: another tenant's → 403 like a missing one."""
    _pack(w.tenant_a, w.site_x, w.customer_a)
    fill = lambda slug: route.fill(tenant=slug)  # noqa: E731
    b, c = w.tenant_b.slug, w.tenant_c.slug
    return [
        Probe(route, "GET", ANON, fill("some-tenant"), LoginRedirect(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, fill(b), NoAccess(), w.markers_b(), fill(_missing_like(b))),
        Probe(route, "POST", CUSTOMER_A_ON_B, fill(b), NoAccess(), w.markers_b(), fill(_missing_like(b))),
        Probe(route, "GET", NOC_X_ON_Y, fill(c), NoAccess(), w.markers_y(), fill(_missing_like(c))),
        Probe(route, "POST", NOC_X_OWN, fill(b), NoAccess(), w.markers_y()),  # operators look in read-only
        Probe(route, "GET", CUSTOMER_A_OWN, fill(w.tenant_a.slug), Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, fill(b), Reachable(), w.markers_y()),
    ]
