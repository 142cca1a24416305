"""Isolation probes of the command channel's NOC views: the live board and the ACK evidence."""

from django.utils import timezone

from tenants.models import Collector
from verification.isolation.expect import LoginRedirect, NoAccess, Reachable
from verification.isolation.probes import ANON, CUSTOMER_A_ON_B, NOC_X_ON_Y, NOC_X_OWN, Probe
from verification.isolation.routes import Route
from verification.isolation.world import World


def command_board_probes(route: Route, w: World) -> list[Probe]:
    """The NOC's live command board (and its JSON refresh): operators only, their own sites only;
    another site's code and a missing one get the same 403."""
    path = route.fill()
    out = [Probe(route, "GET", ANON, path, LoginRedirect(), w.markers_all())]
    for query in ("", "?format=json"):
        sep = "&" if query else "?"
        out += [
            Probe(route, "GET", CUSTOMER_A_ON_B, path + query, NoAccess(), w.markers_b()),
            Probe(
                route,
                "GET",
                NOC_X_ON_Y,
                f"{path}{query}{sep}site={w.site_y.code}",
                NoAccess(),
                w.markers_y(),
                f"{path}{query}{sep}site=NO-SUCH-SITE",
            ),
            Probe(route, "GET", NOC_X_OWN, path + query, Reachable(), w.markers_y()),
        ]
    return out


def ack_object(collector: Collector) -> int:
    """An ACK (unknown: for no command) received from the collector."""
    from control.models import CommandAck

    found = CommandAck.objects.filter(collector=collector).order_by("pk").values_list("pk", flat=True).first()
    if found is None:
        found = CommandAck.objects.create(
            collector=collector,
            wire_id="isolation-unknown",
            device_id="isolation",
            endpoint="v1",
            received_at=timezone.now(),
            payload={"status": "completed"},
            disposition=CommandAck.Disposition.UNKNOWN,
        ).pk
    return found
