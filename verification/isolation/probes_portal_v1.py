"""Probes of the original portal-lite API (/api/v1/portal/*): a customer's own data only, operators
refused (403: the API is for customers), another tenant's command a 404 like a missing one."""

from verification.isolation.expect import ApiDenied, ApiUnauthenticated, LoginRedirect, NoAccess, Reachable
from verification.isolation.probes import ANON, CUSTOMER_A_ON_B, CUSTOMER_A_OWN, NOC_X_ON_Y, NOC_X_OWN, Probe
from verification.isolation.probes_api import _command, _missing_like
from verification.isolation.routes import Route
from verification.isolation.world import MISSING_ID, World

PORTAL_V1_READ_PATHS = (
    "/api/v1/portal/my-miners",
    "/api/v1/portal/my-approvals",
    "/api/v1/portal/my-reports",
    "/api/v1/portal/my-stats",
)
PORTAL_V1_DECISION_PATHS = (
    "/api/v1/portal/approvals/<str:command_id>/approve",
    "/api/v1/portal/approvals/<str:command_id>/deny",
)


def portal_v1_read_probes(route: Route, w: World) -> list[Probe]:
    path = route.fill()
    return [
        Probe(route, "GET", ANON, path, ApiUnauthenticated(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_OWN, path, Reachable(), w.markers_b()),
        Probe(route, "GET", CUSTOMER_A_OWN, f"{path}?tenant={w.tenant_b.slug}", ApiDenied(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, path, ApiDenied(), w.markers_y()),
    ]


def portal_v1_decision_probes(route: Route, w: World) -> list[Probe]:
    theirs = route.fill(command_id=_command(w, w.miner_b_x))
    missing = route.fill(command_id=MISSING_ID)
    return [
        Probe(route, "POST", ANON, theirs, ApiUnauthenticated(), w.markers_all()),
        Probe(route, "POST", CUSTOMER_A_ON_B, theirs, ApiDenied(404, ("NOT_FOUND",)), w.markers_b(), missing),
        Probe(route, "POST", NOC_X_OWN, route.fill(command_id=_command(w, w.miner_a_x)), ApiDenied(), w.markers_y()),
    ]


PORTAL_APPROVALS_PATH = "/portal/t/<slug:tenant>/approvals/"


def portal_approvals_probes(route: Route, w: World) -> list[Probe]:
    """The Approvals page, GET and the decision's POST: another tenant's → 403 like a missing one;
    operators look in read-only (their POST is 403)."""
    _command(w, w.miner_b_x)
    fill = lambda slug: route.fill(tenant=slug)  # noqa: E731
    b, c = w.tenant_b.slug, w.tenant_c.slug
    return [
        Probe(route, "GET", ANON, fill("some-tenant"), LoginRedirect(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, fill(b), NoAccess(), w.markers_b(), fill(_missing_like(b))),
        Probe(route, "POST", CUSTOMER_A_ON_B, fill(b), NoAccess(), w.markers_b(), fill(_missing_like(b))),
        Probe(route, "GET", NOC_X_ON_Y, fill(c), NoAccess(), w.markers_y(), fill(_missing_like(c))),
        Probe(route, "POST", NOC_X_OWN, fill(b), NoAccess(), w.markers_y()),
        Probe(route, "GET", CUSTOMER_A_OWN, fill(w.tenant_a.slug), Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, fill(b), Reachable(), w.markers_y()),
    ]


PORTAL_APPROVAL_MINERS_PATH = "/portal/t/<slug:tenant>/approvals/miners/"


def portal_approval_miners_probes(route: Route, w: World) -> list[Probe]:
    """The request form's miner picker: another tenant's → the 403 page like a missing one; the
    customer's own, asked for the other tenant's miner at the shared site by its exact id, lists
    nothing of it; an operator's view of a tenant holds the miners at their sites only."""
    fill = lambda slug, q="": route.fill(tenant=slug) + (f"?q={q}" if q else "")  # noqa: E731
    b, c = w.tenant_b.slug, w.tenant_c.slug
    return [
        Probe(route, "GET", ANON, fill("some-tenant"), LoginRedirect(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, fill(b), NoAccess(), w.markers_b(), fill(_missing_like(b))),
        Probe(route, "GET", NOC_X_ON_Y, fill(c), NoAccess(), w.markers_y(), fill(_missing_like(c))),
        Probe(route, "GET", CUSTOMER_A_OWN, fill(w.tenant_a.slug, w.miner_b_x.miner_id), Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, fill(b), Reachable(), w.markers_y()),
    ]
