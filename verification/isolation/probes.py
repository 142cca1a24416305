"""A probe: one request by one persona and what it must get; a case: which probes a route gets."""

from collections.abc import Callable
from dataclasses import dataclass, field

from verification.isolation.expect import (
    PUBLIC,
    Expect,
    LoginRedirect,
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
PERSONA_USER = {CUSTOMER_A_ON_B: "customer_a", CUSTOMER_A_OWN: "customer_a", NOC_X_ON_Y: "noc_x", NOC_X_OWN: "noc_x"}


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
