"""Probes of the original application's edge routes carried here (register, safety events,
telemetry/ingest, /api/collector/health) and the safety events' admin objects."""

from django.utils import timezone

from control.models import EdgeSafetyEvent
from tenants.models import Collector
from verification.isolation.probes import Probe, public_probes
from verification.isolation.routes import Route
from verification.isolation.world import World

EDGE_ORIGINAL_PATHS = (
    "/api/edge/v1/register",
    "/api/edge/v1/events/safety/batch",
    "/api/edge/v1/telemetry/ingest",
)
COLLECTOR_HEALTH_PATH = "/api/collector/health"


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


def health_probes(route: Route, w: World) -> list[Probe]:
    """The original legacy adapter's liveness answer: anyone, and not a byte of tenant data."""
    return public_probes(route, w)
