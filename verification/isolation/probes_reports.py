"""Probes of the SLA reports (docs/REPORTS.md): the v1 API in its three formats, the legacy
/hosting/api/client/reports, and the portal's Reports page.

At the shared site X customer A's report holds A's miners only; a site where A has no miner (Y),
another tenant (B) or an operator's site outside their grant answers 403 like a missing one.
A PDF's text is compressed, so the marker check reads nothing there: the PDF probes check the
status, and hosting/tests/test_sla_report*.py read the PDF's text for the same markers."""

from verification.isolation.expect import ApiDenied, ApiUnauthenticated, NoAccess, Reachable
from verification.isolation.probes import ANON, CUSTOMER_A_ON_B, CUSTOMER_A_OWN, NOC_X_ON_Y, NOC_X_OWN, Probe
from verification.isolation.probes_api import _live, _missing_like
from verification.isolation.probes_portal import portal_tenant_probes
from verification.isolation.routes import Route
from verification.isolation.world import World

SLA_REPORT_PATHS = ("/api/v1/hosting/sla_report", "/hosting/api/client/reports", "/hosting/api/client/reports/chart")
PORTAL_REPORTS_PATH = "/portal/t/<slug:tenant>/reports/"


def sla_report_probes(route: Route, w: World) -> list[Probe]:
    for m in (w.miner_a_x, w.miner_b_x, w.miner_b_y):
        _live(w, m)
    path = route.fill()
    x, y = w.site_x.code, w.site_y.code
    formats = ("json", "csv", "pdf") if route.path == "/api/v1/hosting/sla_report" else ("json",)

    def q(fmt="json", **params):
        if route.path == "/api/v1/hosting/sla_report":
            params["format"] = fmt
        return f"{path}?" + "&".join(f"{k}={v}" for k, v in params.items())

    probes = [Probe(route, "GET", ANON, q(site_id=x), ApiUnauthenticated(), w.markers_all())]
    for fmt in formats:
        probes += [
            Probe(
                route,
                "GET",
                CUSTOMER_A_ON_B,
                q(fmt, site_id=y),
                ApiDenied(),
                w.markers_b(),
                q(fmt, site_id=_missing_like(y)),
            ),
            Probe(
                route,
                "GET",
                CUSTOMER_A_ON_B,
                q(fmt, site_id=x, tenant=w.tenant_b.slug),
                ApiDenied(),
                w.markers_b(),
                q(fmt, site_id=x, tenant=_missing_like(w.tenant_b.slug)),
            ),
            Probe(
                route,
                "GET",
                NOC_X_ON_Y,
                q(fmt, site_id=y),
                ApiDenied(),
                w.markers_y(),
                q(fmt, site_id=_missing_like(y)),
            ),
            Probe(
                route,
                "GET",
                NOC_X_ON_Y,
                q(fmt, tenant=w.tenant_c.slug),
                ApiDenied(),
                w.markers_y(),
                q(fmt, tenant=_missing_like(w.tenant_c.slug)),
            ),
            Probe(route, "GET", CUSTOMER_A_OWN, q(fmt, site_id=x), Reachable(), w.markers_b()),
            Probe(route, "GET", CUSTOMER_A_OWN, q(fmt), Reachable(), w.markers_b()),
            Probe(route, "GET", NOC_X_OWN, q(fmt, site_id=x, tenant=w.tenant_b.slug), Reachable(), w.markers_y()),
            Probe(route, "GET", NOC_X_OWN, q(fmt), Reachable(), w.markers_y()),
        ]
    return probes


def portal_reports_probes(route: Route, w: World) -> list[Probe]:
    """The tenant page's probes, and a site of the page's tenant the caller may not see: 403."""
    fill = lambda slug: route.fill(tenant=slug)  # noqa: E731
    y = w.site_y.code
    return [
        *portal_tenant_probes(route, w),
        Probe(
            route,
            "GET",
            CUSTOMER_A_ON_B,
            f"{fill(w.tenant_a.slug)}?site={y}",
            NoAccess(),
            w.markers_y(),
            f"{fill(w.tenant_a.slug)}?site={_missing_like(y)}",
        ),
        Probe(
            route,
            "GET",
            NOC_X_ON_Y,
            f"{fill(w.tenant_b.slug)}?site={y}",
            NoAccess(),
            w.markers_y(),
            f"{fill(w.tenant_b.slug)}?site={_missing_like(y)}",
        ),
        Probe(
            route, "GET", CUSTOMER_A_OWN, f"{fill(w.tenant_a.slug)}?site={w.site_x.code}", Reachable(), w.markers_b()
        ),
        Probe(route, "GET", NOC_X_OWN, f"{fill(w.tenant_b.slug)}?site={w.site_x.code}", Reachable(), w.markers_y()),
    ]
