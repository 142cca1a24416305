"""Probes of hosting's routes (SPEC §9, §11): /api/v1/hosting/… (work orders, alerts, maintenance
windows, downtime), their legacy /hosting/api/… and /api/collector/alerts paths, the portal's
work-order and events pages, and the hosting admin models (ADMIN_OBJECTS entries).

The world's hosting objects are made once through hosting's services (system actor) and reused:
one of each at tenant B's miner at the shared site X (customer A's foreign object), at site Y
(NOC X's foreign object) and at tenant A's miner at X (the own controls)."""

import datetime as dt

from django.utils import timezone

from hosting.models import Alert, AlertState, DowntimeInterval, MaintenanceWindow, WorkOrder
from tenants.models import Miner
from verification.isolation.expect import (
    ApiDenied,
    ApiUnauthenticated,
    LoginRedirect,
    NoAccess,
    Reachable,
    ScopedOrDenied,
)
from verification.isolation.probes import (
    ANON,
    CUSTOMER_A_ON_B,
    CUSTOMER_A_OWN,
    NOC_X_ON_Y,
    NOC_X_OWN,
    Probe,
)
from verification.isolation.probes_api import ADMIN_OBJECTS, _missing_like
from verification.isolation.routes import Route
from verification.isolation.world import ACTOR, MISSING_ID, World

TITLE = "isolation check"

# --- the world's hosting objects ---------------------------------------------------------------------


def _work_order(w: World, miner: Miner) -> int:
    from hosting.services.work_orders import work_order_create

    found = WorkOrder.objects.filter(miner=miner, title=TITLE).values_list("pk", flat=True).first()
    return found or work_order_create(actor=ACTOR, site=miner.site, miner=miner, title=TITLE).pk


def _alert(w: World, miner: Miner) -> int:
    from hosting.services.alerts import alert_raise

    key = f"isolation:{miner.site.code}:{miner.miner_id}"
    found = Alert.objects.filter(dedupe_key=key).exclude(state=AlertState.RESOLVED).values_list("pk", flat=True)
    return found.first() or alert_raise(site=miner.site, miner=miner, kind="isolation", title=TITLE, dedupe_key=key).pk


def _window(w: World, miner: Miner) -> int:
    from hosting.services.maintenance import maintenance_window_create

    found = MaintenanceWindow.objects.filter(miner=miner, reason=TITLE).values_list("pk", flat=True).first()
    if found:
        return found
    start = timezone.now() + dt.timedelta(days=1)
    owner = w.noc_y if miner.site_id == w.site_y.pk else w.noc_x
    return maintenance_window_create(
        actor=ACTOR,
        user=None,
        owner=owner,
        site=miner.site,
        miner=miner,
        reason=TITLE,
        starts_at=start,
        ends_at=start + dt.timedelta(hours=1),
    ).pk


def _interval(w: World, miner: Miner) -> int:
    """A closed offline interval of the miner (a fixture row: the check needs objects to ask for)."""
    found = DowntimeInterval.objects.filter(miner=miner).values_list("pk", flat=True).first()
    if found:
        return found
    start = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(days=3)
    return DowntimeInterval.objects.create(
        miner=miner,
        tenant=miner.tenant,
        site=miner.site,
        cause="offline",
        started_at=start,
        ended_at=start + dt.timedelta(minutes=5),
    ).pk


def _three(make):
    return lambda w: (make(w, w.miner_b_x), make(w, w.miner_b_y), make(w, w.miner_a_x))


_MAKERS = {WorkOrder: _work_order, Alert: _alert, MaintenanceWindow: _window, DowntimeInterval: _interval}
# The hosting admin models' objects, in the one table probes_admin reads (importing this module
# from cases.py registers them; a hosting model added without an entry still fails).
ADMIN_OBJECTS.update({model: _three(make) for model, make in _MAKERS.items()})

# --- API -----------------------------------------------------------------------------------------------

V1 = "/api/v1/hosting/"
_LISTS = {
    f"{V1}work_orders": WorkOrder,
    f"{V1}alerts": Alert,
    f"{V1}maintenance_windows": MaintenanceWindow,
    "/hosting/api/tickets": WorkOrder,
    "/hosting/api/incidents": Alert,
    "/hosting/api/monitoring/incidents": Alert,
    "/api/collector/alerts": Alert,
}
_DETAILS = {
    f"{V1}work_orders/<int:pk>": WorkOrder,
    f"{V1}work_orders/<int:pk>/transition": WorkOrder,
    f"{V1}work_orders/<int:pk>/comments": WorkOrder,
    f"{V1}work_orders/<int:pk>/assign": WorkOrder,
    f"{V1}alerts/<int:pk>": Alert,
    f"{V1}alerts/<int:pk>/acknowledge": Alert,
    f"{V1}alerts/<int:pk>/resolve": Alert,
    f"{V1}maintenance_windows/<int:pk>": MaintenanceWindow,
    f"{V1}maintenance_windows/<int:pk>/cancel": MaintenanceWindow,
    f"{V1}maintenance_windows/<int:pk>/expire": MaintenanceWindow,
    "/hosting/api/tickets/<int:pk>": WorkOrder,
    "/hosting/api/tickets/<int:pk>/status": WorkOrder,
}
_PERIODS = (f"{V1}downtime", f"{V1}downtime/summary")
HOSTING_API_PATHS = (*_LISTS, *_DETAILS, *_PERIODS)


def _objects(w: World, model) -> tuple[int, int, int]:
    """(B's at the shared site X, one at site Y, A's at site X)."""
    return ADMIN_OBJECTS[model](w)


def _list_probes(route: Route, w: World) -> list[Probe]:
    """Lists in the caller's scope: writes (operators only) are 403 for a customer; filtering by
    the other scope answers no foreign row."""
    _objects(w, _LISTS[route.path])
    path = route.fill()
    out = []
    for method in route.methods():
        out += [
            Probe(route, method, ANON, path, ApiUnauthenticated(), w.markers_all()),
            Probe(route, method, CUSTOMER_A_ON_B, f"{path}?site_id={w.site_x.code}", ScopedOrDenied(), w.markers_b())
            if method == "GET"
            else Probe(route, method, CUSTOMER_A_ON_B, path, ApiDenied(), w.markers_b()),
        ]
    out += [
        Probe(route, "GET", NOC_X_ON_Y, f"{path}?site_id={w.site_y.code}", ScopedOrDenied(), w.markers_y()),
        Probe(route, "GET", CUSTOMER_A_OWN, path, Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, path, Reachable(), w.markers_y()),
    ]
    return out


def _detail_probes(route: Route, w: World) -> list[Probe]:
    """One object: B's at the shared site X for customer A, site Y's for NOC X — 403 like a missing
    id, for reads and writes alike (writes are empty bodies: the scope answers before the body)."""
    on_b_x, on_y, own = _objects(w, _DETAILS[route.path])
    missing = route.fill(pk=MISSING_ID)
    out = []
    for method in route.methods():
        out += [
            Probe(route, method, ANON, route.fill(pk=on_b_x), ApiUnauthenticated(), w.markers_all()),
            Probe(route, method, CUSTOMER_A_ON_B, route.fill(pk=on_b_x), ApiDenied(), w.markers_b(), missing),
            Probe(route, method, NOC_X_ON_Y, route.fill(pk=on_y), ApiDenied(), w.markers_y(), missing),
        ]
    if "GET" in route.methods():  # the controls: each sees its own
        out.append(Probe(route, "GET", NOC_X_OWN, route.fill(pk=own), Reachable(), w.markers_y()))
        out.append(Probe(route, "GET", CUSTOMER_A_OWN, route.fill(pk=own), Reachable(), w.markers_b()))
    return out


def _period_probes(route: Route, w: World) -> list[Probe]:
    """Downtime of a period: naming tenant B (customer A) or site Y (NOC X) → 403 like a missing one."""
    for m in (w.miner_a_x, w.miner_b_x, w.miner_b_y):
        _interval(w, m)
    end = timezone.now().replace(microsecond=0)
    period = (
        f"from={(end - dt.timedelta(days=7)).strftime('%Y-%m-%dT%H:%M:%SZ')}&to={end.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )
    path = route.fill()
    b, y = w.tenant_b.slug, w.site_y.code
    return [
        Probe(route, "GET", ANON, f"{path}?{period}", ApiUnauthenticated(), w.markers_all()),
        Probe(
            route,
            "GET",
            CUSTOMER_A_ON_B,
            f"{path}?{period}&tenant={b}",
            ApiDenied(),
            w.markers_b(),
            f"{path}?{period}&tenant={_missing_like(b)}",
        ),
        Probe(
            route,
            "GET",
            NOC_X_ON_Y,
            f"{path}?{period}&site_id={y}",
            ApiDenied(),
            w.markers_y(),
            f"{path}?{period}&site_id={_missing_like(y)}",
        ),
        Probe(route, "GET", CUSTOMER_A_OWN, f"{path}?{period}&site_id={w.site_x.code}", Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, f"{path}?{period}", Reachable(), w.markers_y()),
    ]


def hosting_api_probes(route: Route, w: World) -> list[Probe]:
    if route.path in _LISTS:
        return _list_probes(route, w)
    if route.path in _DETAILS:
        return _detail_probes(route, w)
    return _period_probes(route, w)


# --- portal ----------------------------------------------------------------------------------------------

PORTAL_HOSTING_PATHS = ("/portal/t/<slug:tenant>/work-orders/", "/portal/t/<slug:tenant>/events/")
PORTAL_WORK_ORDER_PATH = "/portal/t/<slug:tenant>/work-orders/<int:pk>/"


def portal_hosting_probes(route: Route, w: World) -> list[Probe]:
    """Work orders and events of a tenant: as the other portal pages (portal_tenant_probes), with
    the world's work orders, alerts and windows present so a leak would show."""
    from verification.isolation.probes_portal import portal_tenant_probes

    for make in _MAKERS.values():
        for m in (w.miner_a_x, w.miner_b_x, w.miner_b_y):
            make(w, m)
    return portal_tenant_probes(route, w)


def portal_work_order_probes(route: Route, w: World) -> list[Probe]:
    """One work order: B's (at the shared site X) is 403 for customer A under either tenant's URL,
    like a missing id; site Y's is 403 for NOC X."""
    on_b_x, on_y, own = _objects(w, WorkOrder)

    def fill(tenant, pk):
        return route.fill(tenant=tenant.slug, pk=pk)

    return [
        Probe(route, "GET", ANON, route.fill(tenant="some-tenant", pk=on_b_x), LoginRedirect(), w.markers_all()),
        Probe(
            route,
            "GET",
            CUSTOMER_A_ON_B,
            fill(w.tenant_a, on_b_x),
            NoAccess(),
            w.markers_b(),
            fill(w.tenant_a, MISSING_ID),
        ),
        Probe(
            route,
            "GET",
            CUSTOMER_A_ON_B,
            fill(w.tenant_b, on_b_x),
            NoAccess(),
            w.markers_b(),
            fill(w.tenant_b, MISSING_ID),
        ),
        Probe(
            route, "GET", NOC_X_ON_Y, fill(w.tenant_b, on_y), NoAccess(), w.markers_y(), fill(w.tenant_b, MISSING_ID)
        ),
        Probe(route, "GET", CUSTOMER_A_OWN, fill(w.tenant_a, own), Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, fill(w.tenant_b, on_b_x), Reachable(), w.markers_y()),
    ]
