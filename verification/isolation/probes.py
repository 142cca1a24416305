"""A probe: one request by one persona and what it must get; a case: which probes a route gets."""

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from tenants.token_auth import PersonalTokenAuthentication
from verification.isolation.expect import (
    PUBLIC,
    Expect,
    LikeAnonymous,
    LoginRedirect,
    OrDenied,
    Reachable,
)
from verification.isolation.routes import Route
from verification.isolation.world import World

# --- probes and cases ------------------------------------------------------------------------------


@dataclass
class Probe:
    route: Route
    method: str
    persona: str
    path: str
    expect: Expect
    markers: tuple[str, ...] = ()  # must appear in no answer
    missing_path: str = ""  # same call for an id that does not exist: the answer must be the same
    headers: dict = field(default_factory=dict)
    #: send the CSRF header on writes, as a browser form does (personal-token calls send none)
    csrf: bool = True
    #: a JSON body for writes whose scope check needs what the client names in it
    body: dict | None = None


@dataclass(frozen=True)
class Case:
    """Which routes it covers, and the probes for one of them."""

    name: str
    matches: Callable[[Route], bool]
    probes: Callable[[Route, World], list[Probe]]
    #: why the route's write methods need no probe (they act on the caller's own account only)
    writes_exempt: str = ""


def exact(*paths: str) -> Callable[[Route], bool]:
    return lambda route: route.path in paths


# Personas. "customer_a" is a Customer of tenant A; "noc_x" a NOC operator of site X.
ANON, CUSTOMER_A_ON_B, NOC_X_ON_Y, NOC_X_OWN, CUSTOMER_A_OWN = (
    "anonymous",
    "customer_a_on_b",
    "noc_x_on_y",
    "noc_x_own",
    "customer_a_own",
)
COLLECTOR_Y_ON_X, COLLECTOR_X_OWN = "collector_y_on_x", "collector_x_own"
# Object-grant personas (django-guardian mirrored, tenants.ObjectGrant): a Customer of tenant A
# limited to miner group X2 (A's and B's miners at site X in it), and a contractor Technician on
# zone X for a week. Each gets every probe of the whole-scope persona it narrows (runner.plan).
GROUP_CUSTOMER_ON_B, GROUP_CUSTOMER_OWN = "group_customer_a_on_b", "group_customer_a_own"
ZONE_TECH_ON_Y, ZONE_TECH_OWN = "zone_tech_x_on_y", "zone_tech_x_own"
PERSONA_USER = {
    CUSTOMER_A_ON_B: "customer_a",
    CUSTOMER_A_OWN: "customer_a",
    NOC_X_ON_Y: "noc_x",
    NOC_X_OWN: "noc_x",
    GROUP_CUSTOMER_ON_B: "group_customer_a",
    GROUP_CUSTOMER_OWN: "group_customer_a",
    ZONE_TECH_ON_Y: "zone_tech_x",
    ZONE_TECH_OWN: "zone_tech_x",
}
# The same persona with its personal API token (Authorization: Bearer hip_…) instead of a session.
TOKEN_SUFFIX = "+token"


def persona_user(persona: str) -> str:
    """The World attribute of the person behind a persona ("" for anonymous and collectors)."""
    return PERSONA_USER.get(persona.removesuffix(TOKEN_SUFFIX), "")


def takes_personal_tokens(route: Route) -> bool:
    view_class = getattr(route.callback, "cls", None)  # DRF's as_view() keeps its class here
    return PersonalTokenAuthentication in getattr(view_class, "authentication_classes", ())


def with_token(probe: Probe) -> Probe | None:
    """The probe again with the persona's personal token instead of its session (SPEC §3: a token
    carries exactly its owner's scope). On the APIs the answer must be the session's, with no CSRF
    header; on pages and collector routes, which take no personal token, it must be the anonymous one."""
    if probe.persona not in PERSONA_USER or "Authorization" in probe.headers:
        return None
    persona = probe.persona + TOKEN_SUFFIX
    if takes_personal_tokens(probe.route):
        return replace(probe, persona=persona, csrf=False)
    # No marker check: a login redirect may echo the path (?next=), which names the object.
    return replace(probe, persona=persona, expect=LikeAnonymous(), markers=(), missing_path="")


def narrowed(probe: Probe, w: World) -> Probe | None:
    """The probe again for the object-grant persona narrowing its persona. What customer A or NOC X
    may not reach, the group customer or the zone technician may not either (the same expectation);
    on their own side they may be refused more (403), but never shown tenant B's rows (B's miner
    is in group X2) nor site Y's."""
    if "Authorization" in probe.headers:
        return None
    if probe.persona == CUSTOMER_A_ON_B:
        return replace(probe, persona=GROUP_CUSTOMER_ON_B)
    if probe.persona == NOC_X_ON_Y:
        return replace(probe, persona=ZONE_TECH_ON_Y)
    if probe.persona == CUSTOMER_A_OWN:
        markers = tuple(dict.fromkeys((*probe.markers, *w.markers_b())))
        return replace(probe, persona=GROUP_CUSTOMER_OWN, expect=OrDenied(probe.expect), markers=markers)
    if probe.persona == NOC_X_OWN:
        markers = tuple(dict.fromkeys((*probe.markers, *w.markers_y())))
        return replace(probe, persona=ZONE_TECH_OWN, expect=OrDenied(probe.expect), markers=markers)
    return None


def public_probes(route: Route, w: World) -> list[Probe]:
    """Probes and docs: open to anyone, and they must not print a byte of tenant data."""
    path = route.fill()
    return [
        Probe(route, "GET", ANON, path, PUBLIC, w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, path, PUBLIC, w.markers_all()),
    ]


def home_probes(route: Route, w: World) -> list[Probe]:
    """The landing page: anonymous → login; a customer sees only their own fleet; an operator
    is sent on to the NOC console, which shows nothing of another site."""
    path = route.fill()
    return [
        Probe(route, "GET", ANON, path, LoginRedirect(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_OWN, path, Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, path, Reachable(), w.markers_y()),
    ]
