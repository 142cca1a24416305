"""Probes of the original application's routes carried here that the older modules do not cover
(register, safety events, telemetry/ingest, /api/collector/health, the monitor page's history)."""

from verification.isolation.expect import ApiDenied, ApiUnauthenticated, Reachable
from verification.isolation.probes import (
    ANON,
    CUSTOMER_A_ON_B,
    CUSTOMER_A_OWN,
    NOC_X_ON_Y,
    NOC_X_OWN,
    Probe,
    public_probes,
)
from verification.isolation.probes_api import _missing_like
from verification.isolation.routes import Route
from verification.isolation.world import World

EDGE_ORIGINAL_PATHS = (
    "/api/edge/v1/register",
    "/api/edge/v1/events/safety/batch",
    "/api/edge/v1/telemetry/ingest",
)
COLLECTOR_HEALTH_PATH = "/api/collector/health"


def health_probes(route: Route, w: World) -> list[Probe]:
    """The original legacy adapter's liveness answer: anyone, and not a byte of tenant data."""
    return public_probes(route, w)


MONITOR_HISTORY_PATH = "/api/collector/monitor/sites/<str:site_id>/miners/<str:miner_id>/history"


def monitor_history_probes(route: Route, w: World) -> list[Probe]:
    """The original monitor page's chart: another tenant's miner at a shared site, and another
    site's miner, answer 403 like missing ones."""
    x, y = w.site_x.code, w.site_y.code

    def fill(site, miner_id):
        return route.fill(site_id=site, miner_id=miner_id)

    b_x, b_y, a_x = w.miner_b_x.miner_id, w.miner_b_y.miner_id, w.miner_a_x.miner_id
    return [
        Probe(route, "GET", ANON, fill(x, a_x), ApiUnauthenticated(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, fill(x, b_x), ApiDenied(), w.markers_b(), fill(x, _missing_like(b_x))),
        Probe(route, "GET", NOC_X_ON_Y, fill(y, b_y), ApiDenied(), w.markers_y(), fill(_missing_like(y), b_y)),
        Probe(route, "GET", CUSTOMER_A_OWN, fill(x, a_x), Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, fill(x, a_x), Reachable(), w.markers_y()),
    ]
