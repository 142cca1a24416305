"""Probes of the original operator pages' reads and curtailment routes: /hosting/api/miners,
/miners/<id>[/telemetry-history], /sites, /sites/<id>, /overview (portal/api_legacy_fleet.py) and
/hosting/api/curtailment/… (control/api_curtailment_legacy.py)."""

from verification.isolation.expect import ApiDenied, ApiUnauthenticated, Reachable
from verification.isolation.probes import ANON, CUSTOMER_A_ON_B, NOC_X_ON_Y, NOC_X_OWN, Probe
from verification.isolation.probes_curtailment import _curtailment
from verification.isolation.routes import Route
from verification.isolation.world import MISSING_ID, World

HOSTING_FLEET_LIST_PATHS = ("/hosting/api/miners", "/hosting/api/sites", "/hosting/api/overview")
HOSTING_FLEET_MINER_PATHS = (
    "/hosting/api/miners/<int:miner_id>",
    "/hosting/api/miners/<int:miner_id>/telemetry-history",
)
HOSTING_FLEET_SITE_PATH = "/hosting/api/sites/<int:site_id>"


def hosting_fleet_probes(route: Route, w: World) -> list[Probe]:
    """Operators only, in their sites: the lists of a NOC of X never name site Y (nor `?site_id=` of Y:
    403), a miner or site of Y answers the missing one's 403; customers 403 even on their own miner;
    anonymous callers 401."""
    if "<int:miner_id>" in route.raw:
        on_y, own, missing = w.miner_b_y.pk, w.miner_a_x.pk, route.fill(miner_id=MISSING_ID)

        def at(pk):
            return route.fill(miner_id=pk)

    elif "<int:site_id>" in route.raw:
        on_y, own, missing = w.site_y.pk, w.site_x.pk, route.fill(site_id=MISSING_ID)

        def at(pk):
            return route.fill(site_id=pk)

    else:
        path = route.fill()
        out = [
            Probe(route, "GET", ANON, path, ApiUnauthenticated(), w.markers_all()),
            Probe(route, "GET", CUSTOMER_A_ON_B, path, ApiDenied(), w.markers_b()),
            Probe(route, "GET", NOC_X_OWN, path, Reachable(), w.markers_y()),
        ]
        if path == "/hosting/api/miners":
            out.append(Probe(route, "GET", NOC_X_ON_Y, f"{path}?site_id={w.site_y.pk}", ApiDenied(), w.markers_y()))
        return out
    return [
        Probe(route, "GET", ANON, at(on_y), ApiUnauthenticated(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, at(own), ApiDenied(), w.markers_b(), missing),
        Probe(route, "GET", NOC_X_ON_Y, at(on_y), ApiDenied(), w.markers_y(), missing),
        Probe(route, "GET", NOC_X_OWN, at(own), Reachable(), w.markers_y()),
    ]


HOSTING_CURTAILMENT_SITE_PATHS = (
    "/hosting/api/curtailment/calculate",
    "/hosting/api/curtailment/execute",
    "/hosting/api/curtailment/emergency-restore",
)
HOSTING_CURTAILMENT_CANCEL_PATH = "/hosting/api/curtailment/cancel"
HOSTING_CURTAILMENT_HISTORY_PATH = "/hosting/api/curtailment/history"


def hosting_curtailment_probes(route: Route, w: World) -> list[Probe]:
    """The original curtailment routes (site or plan named in the body or the query): operators of the
    site only; a NOC of X naming site Y or a plan of Y gets the missing one's 403 and nothing changes;
    customers 403; anonymous callers 401."""
    path = route.fill()
    if route.path == HOSTING_CURTAILMENT_CANCEL_PATH:
        key, on_y = "plan_id", _curtailment(w.site_y)
    else:
        key, on_y = "site_id", w.site_y.pk
    out = []
    for method in route.methods():
        out += [
            Probe(route, method, ANON, path, ApiUnauthenticated(), w.markers_all()),
            Probe(route, method, CUSTOMER_A_ON_B, f"{path}?site_id={w.site_x.pk}", ApiDenied(), w.markers_b()),
            Probe(
                route,
                method,
                NOC_X_ON_Y,
                f"{path}?{key}={on_y}",
                ApiDenied(),
                w.markers_y(),
                f"{path}?{key}={MISSING_ID}",
            ),
        ]
    if route.path == HOSTING_CURTAILMENT_HISTORY_PATH:
        out.append(Probe(route, "GET", NOC_X_OWN, path, Reachable(), w.markers_y()))
    return out


HOSTING_MONITORING_OVERVIEW_PATH = "/hosting/api/monitoring/overview"
HOSTING_MONITORING_INCIDENT_PATH = "/hosting/api/monitoring/incidents/<int:incident_id>"


def hosting_monitoring_probes(route: Route, w: World) -> list[Probe]:
    """The original event-monitoring page (alerts as incidents): operators only; the overview of a
    NOC of X counts site X only, an alert of Y answers the missing one's 403 (reads and the PUT that
    moves it: the scope answers before the body); customers 403; anonymous 401."""
    from hosting.models import Alert
    from verification.isolation.probes_api import ADMIN_OBJECTS

    on_b_x, on_y, own = ADMIN_OBJECTS[Alert](w)
    if route.path == HOSTING_MONITORING_OVERVIEW_PATH:
        path = route.fill()
        return [
            Probe(route, "GET", ANON, path, ApiUnauthenticated(), w.markers_all()),
            Probe(route, "GET", CUSTOMER_A_ON_B, path, ApiDenied(), w.markers_b()),
            Probe(route, "GET", NOC_X_OWN, path, Reachable(), w.markers_y()),
        ]
    missing = route.fill(incident_id=MISSING_ID)
    out = []
    for method in route.methods():
        out += [
            Probe(route, method, ANON, route.fill(incident_id=on_y), ApiUnauthenticated(), w.markers_all()),
            Probe(route, method, CUSTOMER_A_ON_B, route.fill(incident_id=on_b_x), ApiDenied(), w.markers_b(), missing),
            Probe(route, method, NOC_X_ON_Y, route.fill(incident_id=on_y), ApiDenied(), w.markers_y(), missing),
        ]
    out.append(Probe(route, "GET", NOC_X_OWN, route.fill(incident_id=own), Reachable(), w.markers_y()))
    return out


HOSTING_SITE_EVIDENCE_PATH = "/hosting/api/sites/<int:site_id>/evidence-package"


def hosting_site_evidence_probes(route: Route, w: World) -> list[Probe]:
    """The original site page's evidence package (hosting packs, one per tenant): operators with
    site-level view only; site Y for a NOC of X answers the missing site's 403 before any pack is made;
    customers 403; anonymous 401. Own site: today's packs, never a word of site Y."""
    from django.utils import timezone

    today = timezone.now().date().isoformat()

    def at(pk) -> str:
        return f"{route.fill(site_id=pk)}?start_date={today}&end_date={today}"

    return [
        Probe(route, "GET", ANON, at(w.site_y.pk), ApiUnauthenticated(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, at(w.site_x.pk), ApiDenied(), w.markers_b()),
        Probe(route, "GET", NOC_X_ON_Y, at(w.site_y.pk), ApiDenied(), w.markers_y(), at(MISSING_ID)),
        Probe(route, "GET", NOC_X_OWN, at(w.site_x.pk), Reachable(), w.markers_y()),
    ]
