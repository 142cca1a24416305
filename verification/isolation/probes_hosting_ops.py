"""Probes of the original operator pages' miner control routes (/hosting/api/miners/<miner_id>/
start|shutdown|restart|command and the batch paths; control.api_hosting_legacy)."""

from verification.isolation.expect import ApiDenied, ApiUnauthenticated
from verification.isolation.probes import ANON, CUSTOMER_A_ON_B, NOC_X_ON_Y, Probe
from verification.isolation.routes import Route
from verification.isolation.world import MISSING_ID, World

HOSTING_MINER_ACTION_PATHS = {
    f"/hosting/api/miners/<int:miner_id>/{action}" for action in ("start", "shutdown", "restart", "command")
}
HOSTING_MINER_BATCH_PATHS = {
    f"/hosting/api/miners/{batch}" for batch in ("batch-start", "batch-shutdown", "batch-command")
}


def hosting_miner_action_probes(route: Route, w: World) -> list[Probe]:
    """Operators of the miner's site only: a NOC of X naming a miner of Y gets the missing miner's
    403, a customer 403 even on their own tenant's miner at another site, anonymous callers 401.
    The batch paths take the miner ids in the body: anonymous 401, customers 403 (operators only)."""
    out = []
    for method in route.methods():
        if "<int:miner_id>" not in route.raw:
            path = route.fill()
            out += [
                Probe(route, method, ANON, path, ApiUnauthenticated(), w.markers_all()),
                Probe(route, method, CUSTOMER_A_ON_B, path, ApiDenied(), w.markers_b()),
            ]
            continue
        missing = route.fill(miner_id=MISSING_ID)
        out += [
            Probe(route, method, ANON, route.fill(miner_id=w.miner_b_x.pk), ApiUnauthenticated(), w.markers_all()),
            Probe(route, method, CUSTOMER_A_ON_B, route.fill(miner_id=w.miner_b_x.pk), ApiDenied(), w.markers_b()),
            Probe(route, method, NOC_X_ON_Y, route.fill(miner_id=w.miner_b_y.pk), ApiDenied(), w.markers_y(), missing),
        ]
    return out
