"""Probes of the original application's routes carried here that the older modules do not cover
(register, safety events, telemetry/ingest, /api/collector/health, the monitor page's history, the integer miner id of
/api/collector/miners/<id>/status) and the safety events' admin objects."""

from django.utils import timezone

from control.models import EdgeSafetyEvent
from tenants.models import Collector
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
from verification.isolation.routes import Route
from verification.isolation.world import MISSING_ID, World

# The original's per-site reads (telemetry_read_probes in probes_api covers them).
COLLECTOR_SITE_PATHS = (
    "/api/collector/live/<str:site_id>",
    "/api/collector/summary/<str:site_id>",
    "/api/collector/monitor/sites/<str:site_id>/miners/latest",
)
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

    from verification.isolation.probes_api import _missing_like  # probes_api imports this module

    b_x, b_y, a_x = w.miner_b_x.miner_id, w.miner_b_y.miner_id, w.miner_a_x.miner_id
    return [
        Probe(route, "GET", ANON, fill(x, a_x), ApiUnauthenticated(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, fill(x, b_x), ApiDenied(), w.markers_b(), fill(x, _missing_like(b_x))),
        Probe(route, "GET", NOC_X_ON_Y, fill(y, b_y), ApiDenied(), w.markers_y(), fill(_missing_like(y), b_y)),
        Probe(route, "GET", CUSTOMER_A_OWN, fill(x, a_x), Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, fill(x, a_x), Reachable(), w.markers_y()),
    ]


def original_miner_id_probes(route: Route, w: World, fill) -> list[Probe]:
    """The original's integer miner id (here the pk): another tenant's or site's answers like a missing one."""
    return [
        Probe(route, "GET", CUSTOMER_A_ON_B, fill(w.miner_b_x.pk), ApiDenied(), w.markers_b(), fill(MISSING_ID)),
        Probe(route, "GET", NOC_X_ON_Y, fill(w.miner_b_y.pk), ApiDenied(), w.markers_y(), fill(MISSING_ID)),
        Probe(route, "GET", CUSTOMER_A_OWN, fill(w.miner_a_x.pk), Reachable(), w.markers_b()),
    ]


def safety_event(collector: Collector) -> int:
    """A safety event of the collector's site (made once): fixture rows, the check needs objects to ask for."""
    now = timezone.now()
    event, _ = EdgeSafetyEvent.objects.get_or_create(
        site_id=collector.site_id,
        collector=collector,
        miner_ref=f"isolation-{collector.pk}",
        defaults={"action": "disable", "reason": "temperature_max >= 85", "ts": now, "received_at": now},
    )
    return event.pk


def safety_event_admin_objects(w: World) -> tuple:
    """(customer A's foreign object, NOC X's foreign object, NOC X's own): site Y's event is
    foreign to both; customers see no safety event at all."""
    return safety_event(w.collector_y), safety_event(w.collector_y), safety_event(w.collector_x)
