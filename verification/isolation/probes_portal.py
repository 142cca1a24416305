"""Probes of the customer portal (SPEC §10) and its legacy JSON routes (/api/client/*)."""

from verification.isolation.expect import ApiDenied, ApiUnauthenticated, LoginRedirect, NoAccess, Reachable
from verification.isolation.probes import ANON, CUSTOMER_A_ON_B, CUSTOMER_A_OWN, NOC_X_ON_Y, NOC_X_OWN, Probe
from verification.isolation.probes_api import _live, _missing_like
from verification.isolation.routes import Route
from verification.isolation.world import MISSING_ID, World

PORTAL_TENANT_PATHS = ("/portal/t/<slug:tenant>/", "/portal/t/<slug:tenant>/miners/")
PORTAL_MINER_PATH = "/portal/t/<slug:tenant>/miners/<str:site>/<str:miner_id>/"
CLIENT_API_PATHS = (
    "/api/client/dashboard",
    "/api/client/miner-distribution",
    "/api/client/miners",
    *(
        f"/hosting/api/client/{p}"
        for p in ("dashboard", "miner-distribution", "miners", "assets", "revenue-chart", "usage")
    ),
    # POST, but scoped by ?tenant= like the reads (it builds this month's SLA report)
    "/hosting/api/client/usage/generate-report",
)
CLIENT_MINER_PATH = "/hosting/api/client/miners/<int:miner_id>"
CLIENT_REPORT_GENERATE_PATH = "/hosting/api/client/reports/generate"
CLIENT_NOT_CARRIED_PATH = "/hosting/api/client/usage/alerts"
CLIENT_PAGE_PATHS = ("/hosting/client", "/hosting/client/<path:subpath>")


def portal_index_probes(route: Route, w: World) -> list[Probe]:
    """/portal/: a customer is sent to their own tenant; an operator picks among the tenants of their sites."""
    path = route.fill()
    return [
        Probe(route, "GET", ANON, path, LoginRedirect(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_OWN, path, Reachable(), w.markers_b()),
        Probe(route, "GET", CUSTOMER_A_ON_B, f"{path}?tenant={w.tenant_b.slug}", NoAccess(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, path, Reachable(), w.markers_y()),
    ]


def portal_tenant_probes(route: Route, w: World) -> list[Probe]:
    """A tenant's pages: customer A asking for B's → the 403 page, as for a tenant that does not
    exist; NOC X asking for tenant C (miners at site Y only) → 403; NOC X opening tenant B sees B's
    miners at site X only (nothing of site Y)."""
    for m in (w.miner_a_x, w.miner_b_x, w.miner_b_y):
        _live(w, m)
    fill = lambda slug: route.fill(tenant=slug)  # noqa: E731
    return [
        # anonymous callers never reach the lookup; a slug without the world's tag keeps the login
        # page's ?next= from echoing it
        Probe(route, "GET", ANON, fill("some-tenant"), LoginRedirect(), w.markers_all()),
        Probe(
            route,
            "GET",
            CUSTOMER_A_ON_B,
            fill(w.tenant_b.slug),
            NoAccess(),
            w.markers_b(),
            fill(_missing_like(w.tenant_b.slug)),
        ),
        Probe(
            route,
            "GET",
            NOC_X_ON_Y,
            fill(w.tenant_c.slug),
            NoAccess(),
            w.markers_y(),
            fill(_missing_like(w.tenant_c.slug)),
        ),
        Probe(route, "GET", CUSTOMER_A_OWN, fill(w.tenant_a.slug), Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, fill(w.tenant_b.slug), Reachable(), w.markers_y()),
    ]


def portal_miner_probes(route: Route, w: World) -> list[Probe]:
    """A miner's page: B's miner at the shared site X is 403 for customer A under either tenant's
    URL, like a miner id that does not exist; site Y's miner is 403 for NOC X."""
    for m in (w.miner_a_x, w.miner_b_x, w.miner_b_y):
        _live(w, m)

    def fill(tenant, miner, miner_id=None):
        return route.fill(tenant=tenant.slug, site=miner.site.code, miner_id=miner_id or miner.miner_id)

    bx, by = w.miner_b_x, w.miner_b_y
    return [
        Probe(
            route,
            "GET",
            ANON,
            route.fill(tenant="some-tenant", site="SOME-SITE", miner_id="some-miner"),
            LoginRedirect(),
            w.markers_all(),
        ),
        Probe(
            route,
            "GET",
            CUSTOMER_A_ON_B,
            fill(w.tenant_a, bx),
            NoAccess(),
            w.markers_b(),
            fill(w.tenant_a, bx, _missing_like(bx.miner_id)),
        ),
        Probe(
            route,
            "GET",
            CUSTOMER_A_ON_B,
            fill(w.tenant_b, bx),
            NoAccess(),
            w.markers_b(),
            fill(w.tenant_b, bx, _missing_like(bx.miner_id)),
        ),
        Probe(
            route,
            "GET",
            NOC_X_ON_Y,
            fill(w.tenant_b, by),
            NoAccess(),
            w.markers_y(),
            fill(w.tenant_b, by, _missing_like(by.miner_id)),
        ),
        Probe(route, "GET", CUSTOMER_A_OWN, fill(w.tenant_a, w.miner_a_x), Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, fill(w.tenant_b, bx), Reachable(), w.markers_y()),
    ]


def client_api_probes(route: Route, w: World) -> list[Probe]:
    """/api/client/* and /hosting/api/client/*: the caller's own miners; naming another tenant →
    403 like a missing one."""
    for m in (w.miner_a_x, w.miner_b_x, w.miner_b_y):
        _live(w, m)
    path = route.fill()
    method = route.methods()[0]
    return [
        Probe(route, method, ANON, path, ApiUnauthenticated(), w.markers_all()),
        Probe(
            route,
            method,
            CUSTOMER_A_ON_B,
            f"{path}?tenant={w.tenant_b.slug}",
            ApiDenied(),
            w.markers_b(),
            f"{path}?tenant={_missing_like(w.tenant_b.slug)}",
        ),
        Probe(
            route,
            method,
            NOC_X_ON_Y,
            f"{path}?tenant={w.tenant_c.slug}",
            ApiDenied(),
            w.markers_y(),
            f"{path}?tenant={_missing_like(w.tenant_c.slug)}",
        ),
        Probe(route, method, CUSTOMER_A_OWN, path, Reachable(), w.markers_b()),
        Probe(route, method, NOC_X_OWN, path, Reachable(), w.markers_y()),
    ]


def client_miner_probes(route: Route, w: World) -> list[Probe]:
    """A miner by its integer id: B's miner at the shared site X is 403 for customer A, site Y's
    for NOC X — the same answer as an id that does not exist."""
    for m in (w.miner_a_x, w.miner_b_x, w.miner_b_y):
        _live(w, m)
    fill = lambda pk: route.fill(miner_id=pk)  # noqa: E731
    return [
        Probe(route, "GET", ANON, fill(w.miner_a_x.pk), ApiUnauthenticated(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, fill(w.miner_b_x.pk), ApiDenied(), w.markers_b(), fill(MISSING_ID)),
        Probe(route, "GET", NOC_X_ON_Y, fill(w.miner_b_y.pk), ApiDenied(), w.markers_y(), fill(MISSING_ID)),
        Probe(route, "GET", CUSTOMER_A_OWN, fill(w.miner_a_x.pk), Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, fill(w.miner_b_x.pk), Reachable(), w.markers_y()),
    ]


def client_report_generate_probes(route: Route, w: World) -> list[Probe]:
    """POST reports/generate: a site where the caller has no miners (customer A at Y), another
    tenant, or a site outside the grant (NOC X at Y) → 403 like a missing one; own → 200."""
    for m in (w.miner_a_x, w.miner_b_x, w.miner_b_y):
        _live(w, m)
    path = route.fill()
    y = w.site_y.code
    return [
        Probe(route, "POST", ANON, path, ApiUnauthenticated(), w.markers_all()),
        Probe(
            route,
            "POST",
            CUSTOMER_A_ON_B,
            f"{path}?site_id={y}",
            ApiDenied(),
            w.markers_b(),
            f"{path}?site_id={_missing_like(y)}",
        ),
        Probe(
            route,
            "POST",
            CUSTOMER_A_ON_B,
            f"{path}?tenant={w.tenant_b.slug}",
            ApiDenied(),
            w.markers_b(),
            f"{path}?tenant={_missing_like(w.tenant_b.slug)}",
        ),
        Probe(
            route,
            "POST",
            NOC_X_ON_Y,
            f"{path}?site_id={y}",
            ApiDenied(),
            w.markers_y(),
            f"{path}?site_id={_missing_like(y)}",
        ),
        Probe(route, "POST", CUSTOMER_A_OWN, path, Reachable(), w.markers_b()),
        Probe(route, "POST", NOC_X_OWN, f"{path}?site_id={w.site_x.code}", Reachable(), w.markers_y()),
    ]


def client_not_carried_probes(route: Route, w: World) -> list[Probe]:
    """POST usage/alerts stores nothing: 401 anonymous, 410 NOT_CARRIED for everyone signed in."""
    path = route.fill()
    gone = ApiDenied(status=410, codes=("NOT_CARRIED",))
    return [
        Probe(route, "POST", ANON, path, ApiUnauthenticated(), w.markers_all()),
        Probe(route, "POST", CUSTOMER_A_OWN, path, gone, w.markers_b()),
        Probe(route, "POST", NOC_X_OWN, path, gone, w.markers_y()),
    ]


def client_page_probes(route: Route, w: World) -> list[Probe]:
    """/hosting/client*: a redirect to the person's own portal (customer A: tenant A's pages, never
    B's; NOC X: the tenant picker of their sites)."""
    for m in (w.miner_a_x, w.miner_b_x, w.miner_b_y):
        _live(w, m)
    path = route.fill(subpath="miners") if "<" in route.path else route.fill()
    return [
        Probe(route, "GET", ANON, path, LoginRedirect(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_OWN, path, Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, path, Reachable(), w.markers_y()),
    ]


PORTAL_DOWNTIME_PATH = "/portal/t/<slug:tenant>/downtime/"


def _downtime(w: World, miner) -> None:
    """One interval this month, once, for the miner's owner: a leak would print its miner id."""
    import datetime as dt

    from django.utils import timezone

    from hosting.models import DowntimeInterval

    now = timezone.now()
    start = max(now.replace(day=1, hour=0, minute=0, second=0, microsecond=0), now - dt.timedelta(hours=1))
    end = max(now - dt.timedelta(minutes=30), start + dt.timedelta(minutes=1))
    DowntimeInterval.objects.get_or_create(
        miner=miner,
        tenant_id=miner.tenant_id,
        started_at=start,
        defaults={"site_id": miner.site_id, "ended_at": end, "cause": "offline", "evidence": {"minutes": 1}},
    )


def portal_downtime_probes(route: Route, w: World) -> list[Probe]:
    """The Downtime page, as a tenant page (same personas and 403s), with an interval of every
    probed miner this month: customer A's page must not show B's, NOC X's view of B not site Y's."""
    for m in (w.miner_a_x, w.miner_b_x, w.miner_b_y):
        _downtime(w, m)
    return portal_tenant_probes(route, w)
