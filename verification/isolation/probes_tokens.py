"""Probes of the personal API token routes: the API (/api/v1/me/tokens) and the page
(/accounts/tokens/). Everyone reaches only their own tokens; another person's answers as a missing id."""

from verification.isolation.expect import ApiDenied, ApiUnauthenticated, LoginRedirect, NoAccess, Reachable
from verification.isolation.probes import ANON, CUSTOMER_A_ON_B, CUSTOMER_A_OWN, NOC_X_ON_Y, NOC_X_OWN, Probe
from verification.isolation.routes import Route
from verification.isolation.world import MISSING_ID, World

TOKEN_LIST_PATH = "/api/v1/me/tokens"
TOKEN_REVOKE_PATH = "/api/v1/me/tokens/<int:token_id>"
TOKEN_PAGE_PATH = "/accounts/tokens/"
TOKEN_PAGE_REVOKE_PATH = "/accounts/tokens/<int:pk>/revoke/"


def token_list_probes(route: Route, w: World) -> list[Probe]:
    """My tokens only (B's and Y's prefixes are markers); creating needs a sign-in."""
    path = route.fill()
    return [
        Probe(route, "GET", ANON, path, ApiUnauthenticated(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_OWN, path, Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, path, Reachable(), w.markers_y()),
        Probe(route, "POST", ANON, path, ApiUnauthenticated(), w.markers_all()),
    ]


def token_revoke_probes(route: Route, w: World) -> list[Probe]:
    """Customer A revoking B's token, NOC X revoking NOC Y's: 403 FORBIDDEN, as for a missing id."""
    missing = route.fill(token_id=MISSING_ID)
    return [
        Probe(route, "DELETE", ANON, route.fill(token_id=w.personal_token_b.pk), ApiUnauthenticated(), w.markers_all()),
        Probe(
            route,
            "DELETE",
            CUSTOMER_A_ON_B,
            route.fill(token_id=w.personal_token_b.pk),
            ApiDenied(),
            w.markers_b(),
            missing,
        ),
        Probe(
            route, "DELETE", NOC_X_ON_Y, route.fill(token_id=w.personal_token_y.pk), ApiDenied(), w.markers_y(), missing
        ),
    ]


def token_page_probes(route: Route, w: World) -> list[Probe]:
    path = route.fill()
    return [
        Probe(route, "GET", ANON, path, LoginRedirect(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_OWN, path, Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, path, Reachable(), w.markers_y()),
        Probe(route, "POST", ANON, path, LoginRedirect(), w.markers_all()),
    ]


def token_page_revoke_probes(route: Route, w: World) -> list[Probe]:
    """POST only (GET is 405 for everyone signed in, whoever's the id); another's token is a 403 page."""
    missing = route.fill(pk=MISSING_ID)
    not_allowed = Reachable(statuses=(405,), label_text="405")
    return [
        Probe(route, "GET", ANON, route.fill(pk=w.personal_token_b.pk), LoginRedirect(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, route.fill(pk=w.personal_token_b.pk), not_allowed, w.markers_b(), missing),
        Probe(route, "POST", ANON, route.fill(pk=w.personal_token_b.pk), LoginRedirect(), w.markers_all()),
        Probe(route, "POST", CUSTOMER_A_ON_B, route.fill(pk=w.personal_token_b.pk), NoAccess(), w.markers_b(), missing),
        Probe(route, "POST", NOC_X_ON_Y, route.fill(pk=w.personal_token_y.pk), NoAccess(), w.markers_y(), missing),
    ]
