"""Probes of the original application's command and telemetry routes (/api/v1/commands…,
/api/sites/<id>/commands, /api/commands/<id>…, /api/v1/telemetry/site-summary)."""

import re

from control.models import Command
from tenants.models import Miner
from verification.isolation.expect import ApiDenied, ApiUnauthenticated, Reachable, ScopedOrDenied
from verification.isolation.probes import ANON, CUSTOMER_A_ON_B, CUSTOMER_A_OWN, NOC_X_ON_Y, NOC_X_OWN, Probe
from verification.isolation.probes_api import _command, _missing_like
from verification.isolation.routes import Route
from verification.isolation.world import ACTOR, MISSING_ID, World

LEGACY_COMMAND_LIST_PATH = "/api/v1/commands"
LEGACY_COMMAND_PATHS = (
    "/api/v1/commands/<uuid:command_id>",
    "/api/v1/commands/<uuid:command_id>/approve",
    "/api/v1/commands/<uuid:command_id>/deny",
    "/api/v1/commands/<uuid:command_id>/rollback",
    "/api/v1/commands/<int:command_id>/deny",
    "/api/commands/<str:command_id>",
    "/api/commands/<str:command_id>/cancel",
    "/api/commands/<str:command_id>/approve",
)
LEGACY_PROPOSE_PATH = "/api/v1/commands/propose"
LEGACY_SITE_COMMANDS_PATH = "/api/sites/<str:site_id>/commands"
LEGACY_SITE_SUMMARY_PATH = "/api/v1/telemetry/site-summary"
TAG = "verify_tenant_isolation_batch"


def _batch(miner: Miner) -> str:
    """The batch id of an inert set_fan batch on `miner` (made once through the service)."""
    from control.services.creation import command_batch_create

    found = Command.objects.filter(miner=miner, created_by_system=TAG).values_list("batch_id", flat=True).first()
    if found is None:
        found = command_batch_create(
            actor=ACTOR, user=None, miners=[miner], command_type="set_fan", params={"speed": 50}, created_by_system=TAG
        ).batch_id
    return str(found)


def _lone(miner: Miner) -> str:
    return str(_command(None, miner))


def legacy_command_probes(route: Route, w: World) -> list[Probe]:
    """The original's command routes: a command of another tenant or site answers 403 as a missing
    id does; customers read their own (GET) and decide nothing; anonymous callers 401."""
    lone = "<int:command_id>" in route.raw
    ident = _lone if lone else _batch
    on_b_x, on_y, own = ident(w.miner_b_x), ident(w.miner_b_y), ident(w.miner_a_x)

    def missing(foreign: str) -> str:
        # the same path shape (digits aside) for an id nobody has: a UUID with its digits zeroed
        return route.fill(command_id=MISSING_ID if lone else re.sub(r"\d", "0", foreign))

    out = []
    for method in route.methods():
        out += [
            Probe(route, method, ANON, route.fill(command_id=on_b_x), ApiUnauthenticated(), w.markers_all()),
            Probe(
                route,
                method,
                CUSTOMER_A_ON_B,
                route.fill(command_id=on_b_x),
                ApiDenied(),
                w.markers_b(),
                missing(on_b_x),
            ),
            Probe(route, method, NOC_X_ON_Y, route.fill(command_id=on_y), ApiDenied(), w.markers_y(), missing(on_y)),
        ]
    if "GET" in route.methods():
        out += [
            Probe(route, "GET", NOC_X_OWN, route.fill(command_id=own), Reachable(), w.markers_y()),
            Probe(route, "GET", CUSTOMER_A_OWN, route.fill(command_id=own), Reachable(), w.markers_b()),
        ]
    return out


def legacy_command_list_probes(route: Route, w: World) -> list[Probe]:
    """GET /api/v1/commands (the original's list): each caller's own commands; POST (create) is operators'."""
    for m in (w.miner_a_x, w.miner_b_x, w.miner_b_y):
        _batch(m)
    path = route.fill()
    out = []
    for method in route.methods():
        out += [
            Probe(route, method, ANON, path, ApiUnauthenticated(), w.markers_all()),
            Probe(route, method, CUSTOMER_A_ON_B, f"{path}?site_id={w.site_x.code}", *_customer(method, w)),
        ]
        if method == "GET":
            out += [
                Probe(route, "GET", NOC_X_ON_Y, f"{path}?site_id={w.site_y.code}", ScopedOrDenied(), w.markers_y()),
                Probe(route, "GET", NOC_X_OWN, path, Reachable(), w.markers_y()),
            ]
    return out


def legacy_propose_probes(route: Route, w: World) -> list[Probe]:
    """POST /api/v1/commands/propose: operators on their sites' miners, customers on their own
    tenant's (consent policy permitting); naming another tenant's miner at a shared site, or a site
    not theirs, is 403 FORBIDDEN whoever asks, and nothing is created."""
    path = route.fill()

    def body(site, miner):
        return {"site_id": site.code, "command_type": "reboot", "target_ids": [miner.miner_id], "reason": "probe"}

    return [
        Probe(route, "POST", ANON, path, ApiUnauthenticated(), w.markers_all(), body=body(w.site_x, w.miner_a_x)),
        Probe(route, "POST", CUSTOMER_A_ON_B, path, ApiDenied(), w.markers_b(), body=body(w.site_x, w.miner_b_x)),
        Probe(route, "POST", CUSTOMER_A_ON_B, path, ApiDenied(), w.markers_b(), body=body(w.site_y, w.miner_b_y)),
        Probe(route, "POST", NOC_X_ON_Y, path, ApiDenied(), w.markers_y(), body=body(w.site_y, w.miner_b_y)),
    ]


def _customer(method: str, w: World) -> tuple:
    # A customer's GET lists only their own tenant's commands; anything else is denied.
    return (Reachable(), w.markers_b()) if method == "GET" else (ApiDenied(), w.markers_b())


def legacy_site_commands_probes(route: Route, w: World) -> list[Probe]:
    """GET/POST /api/sites/<site_id>/commands: another site answers 403 as an unknown one does."""
    for m in (w.miner_a_x, w.miner_b_x, w.miner_b_y):
        _batch(m)
    x, y = w.site_x.code, w.site_y.code
    missing = route.fill(site_id=_missing_like(y))
    out = []
    for method in route.methods():
        out += [
            Probe(route, method, ANON, route.fill(site_id=x), ApiUnauthenticated(), w.markers_all()),
            Probe(route, method, CUSTOMER_A_ON_B, route.fill(site_id=y), ApiDenied(), w.markers_b(), missing),
            Probe(route, method, NOC_X_ON_Y, route.fill(site_id=y), ApiDenied(), w.markers_y(), missing),
        ]
    out += [
        Probe(route, "GET", CUSTOMER_A_OWN, route.fill(site_id=x), Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, route.fill(site_id=x), Reachable(), w.markers_y()),
    ]
    return out


def legacy_site_summary_probes(route: Route, w: World) -> list[Probe]:
    """GET /api/v1/telemetry/site-summary?site_id=: figures of the caller's miners at the site only."""
    path, x, y = route.fill(), w.site_x.code, w.site_y.code
    missing = f"{path}?site_id={_missing_like(y)}"
    return [
        Probe(route, "GET", ANON, f"{path}?site_id={x}", ApiUnauthenticated(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, f"{path}?site_id={y}", ApiDenied(), w.markers_b(), missing),
        Probe(route, "GET", NOC_X_ON_Y, f"{path}?site_id={y}", ApiDenied(), w.markers_y(), missing),
        Probe(route, "GET", CUSTOMER_A_OWN, f"{path}?site_id={x}", Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, f"{path}?site_id={x}", Reachable(), w.markers_y()),
    ]
