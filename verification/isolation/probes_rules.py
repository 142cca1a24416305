"""Probes of the rule engine's operator API and admin objects (rules/)."""

from django.utils import timezone

from rules.models import Rule, RuleHit
from tenants.models import Miner, Site
from verification.isolation.expect import (
    ApiDenied,
    ApiUnauthenticated,
    LoginRedirect,
    NoAccess,
    Reachable,
    ScopedOrDenied,
)
from verification.isolation.probes import ANON, CUSTOMER_A_ON_B, NOC_X_ON_Y, NOC_X_OWN, Probe
from verification.isolation.routes import Route
from verification.isolation.world import ACTOR, MISSING_ID, World

RULE_API_PATHS = (
    "/api/admin/v1/rules",
    "/api/admin/v1/rules/<int:pk>",
    "/api/admin/v1/rules/backtest",  # POST a draft: the same gate as a rule create
    "/api/admin/v1/rules/<int:pk>/backtest",  # POST: another site's rule 403 like a missing one
    "/api/admin/v1/rules/<int:pk>/hits",
    "/api/admin/v1/rule_hits",
)

RULE_ADMIN_BACKTEST_PATHS = ("/admin/rules/rule/<path:object_id>/backtest/", "/admin/rules/rule/backtest/")


def _rule(site: Site) -> int:
    """A disabled rule of the site (made once through the service; it never acts)."""
    from rules.services.definitions import rule_create

    name = "isolation-probe"
    found = Rule.objects.filter(site=site, name=name).values_list("pk", flat=True).first()
    if found is None:
        found = rule_create(
            actor=ACTOR, user=None, site=site, name=name, enabled=False, metric="temp_max", op="gt", threshold=200
        ).pk
    return found


def rule_hit(miner: Miner) -> int:
    """A hit of the site's probe rule on `miner` (a fixture row written directly: the check needs an
    object to ask for, not a pass)."""
    rule = Rule.objects.get(pk=_rule(miner.site))
    hit = RuleHit.objects.filter(rule=rule, miner=miner).values_list("pk", flat=True).first()
    if hit is None:
        hit = RuleHit.objects.create(
            rule=rule,
            version=rule.version,
            miner=miner,
            tenant_id=miner.tenant_id,
            kind="suppressed",
            at=timezone.now(),
            value=None,
            threshold=rule.threshold,
            evidence={},
        ).pk
    return hit


def rule_admin_objects(w: World) -> tuple:
    return (_rule(w.site_y), _rule(w.site_y), _rule(w.site_x))


def rule_hit_admin_objects(w: World) -> tuple:
    return (rule_hit(w.miner_b_y), rule_hit(w.miner_b_y), rule_hit(w.miner_a_x))


def rule_api_probes(route: Route, w: World) -> list[Probe]:
    """Operators of the rule's site only; customers 403 everywhere; a NOC of X asking for a rule of
    Y gets the same 403 as for a missing id; anonymous callers 401."""
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
    on_y, own = _rule(w.site_y), _rule(w.site_x)
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


THERMAL_PATHS = ("/api/thermal/config", "/api/thermal/check")
HOSTING_THERMAL_PATHS = (
    "/hosting/api/thermal/config/<int:site_id>",
    "/hosting/api/thermal/check/<int:site_id>",
    "/hosting/api/thermal/events/<int:site_id>",
    "/hosting/api/thermal/stats/<int:site_id>",
)


def thermal_probes(route: Route, w: World) -> list[Probe]:
    """The legacy thermal routes (site by code or id, in the query/body or the path): operators of
    the site only; a NOC of X naming Y gets the same 403 as for a missing site; customers 403;
    anonymous callers 401. Writes are probed only where they must be refused."""

    def at(site) -> str:
        return route.fill(site_id=site) if "<int:site_id>" in route.raw else f"{route.fill()}?site_id={site}"

    out = []
    for method in route.methods():
        out += [
            Probe(route, method, ANON, at(w.site_y.pk), ApiUnauthenticated(), w.markers_all()),
            Probe(route, method, CUSTOMER_A_ON_B, at(w.site_x.pk), ApiDenied(), w.markers_b()),
            Probe(route, method, NOC_X_ON_Y, at(w.site_y.pk), ApiDenied(), w.markers_y(), at(MISSING_ID)),
        ]
    if "GET" in route.methods():
        out.append(Probe(route, "GET", NOC_X_OWN, at(w.site_x.pk), Reachable(), w.markers_y()))
    return out


def rule_admin_backtest_probes(route: Route, w: World) -> list[Probe]:
    """The admin's backtest pages: a rule's (operators of its site; another site's rule and a missing
    one the same 403) and the draft's (operators; its site choices only the caller's sites)."""
    if "object_id" not in route.path:
        path = route.fill()
        return [
            Probe(route, "GET", ANON, path, LoginRedirect(), w.markers_all()),
            *(Probe(route, m, CUSTOMER_A_ON_B, path, NoAccess(), w.markers_b()) for m in ("GET", "POST")),
            Probe(route, "GET", NOC_X_OWN, path, Reachable(), w.markers_y()),
        ]
    on_y, own = _rule(w.site_y), _rule(w.site_x)
    missing = route.fill(object_id=MISSING_ID)
    return [
        Probe(route, "GET", ANON, route.fill(object_id=own), LoginRedirect(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, route.fill(object_id=own), NoAccess(), w.markers_b(), missing),
        Probe(route, "GET", NOC_X_ON_Y, route.fill(object_id=on_y), NoAccess(), w.markers_y(), missing),
        Probe(route, "GET", NOC_X_OWN, route.fill(object_id=own), Reachable(), w.markers_y()),
    ]
