"""Probes of the curtailment API and admin objects (control/ curtailments, SPEC §6.3)."""

import datetime as dt

from django.utils import timezone

from control.models import Curtailment
from tenants.models import Site
from verification.isolation.expect import ApiDenied, ApiUnauthenticated, Reachable, ScopedOrDenied
from verification.isolation.probes import ANON, CUSTOMER_A_ON_B, NOC_X_ON_Y, NOC_X_OWN, Probe
from verification.isolation.routes import Route
from verification.isolation.world import ACTOR, MISSING_ID, World

CURTAILMENT_API_PATHS = (
    "/api/admin/v1/curtailments",
    "/api/admin/v1/curtailments/<int:pk>",
    "/api/admin/v1/curtailments/<int:pk>/approve",
    "/api/admin/v1/curtailments/<int:pk>/cancel",
)
REASON = "isolation probe"


def _curtailment(site: Site) -> int:
    """An unapproved curtailment of the site a year ahead (made once through the service; it never starts)."""
    from control.services.curtailment import curtailment_create

    found = Curtailment.objects.filter(site=site, reason=REASON).values_list("pk", flat=True).first()
    if found is None:
        start = timezone.now() + dt.timedelta(days=365)
        found = curtailment_create(
            actor=ACTOR,
            user=None,
            site=site,
            start_at=start,
            end_at=start + dt.timedelta(minutes=1),
            reason=REASON,
            target_kw=0.001,
        ).pk
    return found


def curtailment_admin_objects(w: World) -> tuple:
    # Customers see no curtailment at all: their foreign object is one at their own miners' site.
    return (_curtailment(w.site_x), _curtailment(w.site_y), _curtailment(w.site_x))


def curtailment_api_probes(route: Route, w: World) -> list[Probe]:
    """Operators of the curtailment's site only; customers 403 everywhere; a NOC of X asking for a
    curtailment of Y gets the same 403 as for a missing id; anonymous callers 401."""
    out = []
    if "<int:pk>" not in route.raw:
        path = route.fill()
        for method in route.methods():
            out += [
                Probe(route, method, ANON, path, ApiUnauthenticated(), w.markers_all()),
                Probe(route, method, CUSTOMER_A_ON_B, f"{path}?site_id={w.site_x.code}", ApiDenied(), w.markers_b()),
            ]
            if method == "GET":
                out.append(
                    Probe(route, "GET", NOC_X_ON_Y, f"{path}?site_id={w.site_y.code}", ScopedOrDenied(), w.markers_y())
                )
        return out
    on_y, own = _curtailment(w.site_y), _curtailment(w.site_x)
    missing = route.fill(pk=MISSING_ID)
    for method in route.methods():
        out += [
            Probe(route, method, ANON, route.fill(pk=on_y), ApiUnauthenticated(), w.markers_all()),
            Probe(route, method, CUSTOMER_A_ON_B, route.fill(pk=own), ApiDenied(), w.markers_b(), missing),
            Probe(route, method, NOC_X_ON_Y, route.fill(pk=on_y), ApiDenied(), w.markers_y(), missing),
        ]
    if "GET" in route.methods():
        out.append(Probe(route, "GET", NOC_X_OWN, route.fill(pk=own), Reachable(), w.markers_y()))
    return out
