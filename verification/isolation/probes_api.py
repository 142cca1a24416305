"""Probes of the collector, operator and telemetry APIs."""

import re
from collections.abc import Callable

from django.utils import timezone

from audit.models import AuditCheckpoint, AuditEvent
from control.models import CollectorStatus, Command, CommandAck, ConsentPolicy, Curtailment, EdgeSafetyEvent
from rules.models import Rule, RuleHit
from telemetry.models import IngestBatch, QuarantinedBatch, TelemetryLive
from tenants.models import (
    Collector,
    CollectorCertificate,
    CollectorToken,
    Invitation,
    Miner,
    MinerGroup,
    ObjectGrant,
    RoleGrant,
    Site,
    SiteAlias,
    SiteEdgeSecurity,
    Tenant,
    Zone,
)
from verification.isolation import probes_edge as edge
from verification.isolation.expect import (
    ApiDenied,
    ApiUnauthenticated,
    LoginRedirect,
    NoAccess,
    Reachable,
    ScopedOrDenied,
    SiteFigures,
)
from verification.isolation.probes import (
    ANON,
    COLLECTOR_X_OWN,
    COLLECTOR_Y_ON_X,
    CUSTOMER_A_ON_B,
    CUSTOMER_A_OWN,
    NOC_X_ON_Y,
    NOC_X_OWN,
    Probe,
)
from verification.isolation.probes_control import ack_object
from verification.isolation.probes_curtailment import curtailment_admin_objects
from verification.isolation.probes_edge_security import certificate_admin_objects, site_security_admin_objects
from verification.isolation.probes_rules import rule_admin_objects, rule_hit_admin_objects
from verification.isolation.routes import Route
from verification.isolation.world import ACTOR, MISSING_ID, World

COLLECTOR_COMMAND_PATHS = (
    "/api/edge/v1/commands/poll",
    "/api/edge/v1/commands/<path:command_id>/ack",
    "/api/collector/commands/pending",
    "/api/collector/commands/pending/<str:site_id>",
    "/api/collector/commands/ack",
    "/api/collector/commands/<path:command_id>/result",
)


def collector_probes(route: Route, w: World) -> list[Probe]:
    """Collector endpoints: token only. Another site's token → 403, no token → 401."""
    path = route.fill(command_id=MISSING_ID, site_id=w.site_x.code)  # command routes: an id no command has
    own = {"Authorization": f"Bearer {w.token_x_plain}", "X-Site-ID": w.site_x.code}
    other = {"Authorization": f"Bearer {w.token_y_plain}", "X-Site-ID": w.site_x.code}
    out = []
    for method in route.methods():
        out += [
            Probe(route, method, ANON, path, ApiUnauthenticated(), w.markers_all()),
            Probe(
                route,
                method,
                COLLECTOR_Y_ON_X,
                path,
                ApiDenied(403, ("FORBIDDEN", "SITE_MISMATCH")),
                w.markers_y(),
                headers=other,
            ),
            # A customer's session is no collector credential.
            Probe(route, method, CUSTOMER_A_ON_B, path, ApiUnauthenticated(), w.markers_all()),
        ]
    if "GET" in route.methods():  # the control: the harness's own token does get in
        out.append(
            Probe(route, "GET", COLLECTOR_X_OWN, path, Reachable((200, 204), "200/204"), w.markers_y(), headers=own)
        )
    if "site_id>" in route.path:  # its own token naming another site's code in the path
        out.append(
            Probe(
                route,
                "GET",
                COLLECTOR_X_OWN,
                route.fill(site_id=w.site_y.code),
                ApiDenied(403, ("SITE_MISMATCH",)),
                w.markers_y(),
                headers=own,
            )
        )
    return out


def collector_status_probes(route: Route, w: World) -> list[Probe]:
    """GET /api/collector/status answers a collector (its self-check) and people (sites in scope).
    Customer A sees site X with A's miner only and no collector; NOC X sees nothing of site Y."""
    path = route.fill()
    own = {"Authorization": f"Bearer {w.token_x_plain}", "X-Site-ID": w.site_x.code}
    other = {"Authorization": f"Bearer {w.token_y_plain}", "X-Site-ID": w.site_x.code}
    x = w.site_x.code
    return [
        Probe(route, "GET", ANON, path, ApiUnauthenticated(), w.markers_all()),
        Probe(route, "GET", COLLECTOR_Y_ON_X, path, ApiDenied(403, ("SITE_MISMATCH",)), w.markers_y(), headers=other),
        Probe(route, "GET", COLLECTOR_X_OWN, path, Reachable(), w.markers_y(), headers=own),
        Probe(
            route,
            "GET",
            CUSTOMER_A_OWN,
            path,
            SiteFigures(((x, 1),), collectors=False),
            (*w.markers_b(), w.collector_x.name),
        ),
        Probe(route, "GET", NOC_X_OWN, path, SiteFigures(((x, 2),), collectors=True), w.markers_y()),
    ]


def audit_api_probes(route: Route, w: World) -> list[Probe]:
    """Operators only; a NOC of site X asking for site Y's events gets an empty page."""
    path = route.fill()
    y_events = f"{path}?entity_type=tenants.site&entity_id={w.site_y.pk}"
    return [
        Probe(route, "GET", ANON, path, ApiUnauthenticated(), w.markers_all()),
        Probe(
            route,
            "GET",
            CUSTOMER_A_ON_B,
            f"{path}?entity_type=tenants.miner&entity_id={w.miner_b_x.pk}",
            ApiDenied(),
            w.markers_b(),
        ),
        Probe(route, "GET", NOC_X_ON_Y, y_events, ScopedOrDenied(), w.markers_y()),
    ]


def _command(w: World, miner: Miner) -> int:
    """A command on `miner` (made once through the lifecycle service, an inert set_fan; reused later)."""
    from control.services.creation import command_create

    found = (
        Command.objects.filter(miner=miner, created_by_system="verify_tenant_isolation")
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if found is None:
        found = command_create(
            actor=ACTOR,
            user=None,
            miner=miner,
            command_type="set_fan",
            params={"speed": 100},
            reason="isolation check",
            created_by_system="verify_tenant_isolation",
        ).pk
    return found


COMMAND_API_PATHS = {
    f"/api/{prefix}commands{suffix}"
    for prefix in ("admin/v1/", "v1/")
    for suffix in ("", "/<int:pk>", "/<int:pk>/approve", "/<int:pk>/reject", "/<int:pk>/cancel", "/<int:pk>/rollback")
} - {"/api/v1/commands"}  # the original application's list there: probes_legacy_v1
COMMAND_API_PATHS |= {f"/api/collector/commands{s}" for s in ("", "/batch", "/history", "/stats", "/<int:pk>")}


def command_api_probes(route: Route, w: World) -> list[Probe]:
    """Operator command API (v1 and legacy): operators of the command's site only. Customers get 403
    on every route (their read-only view is the portal); a NOC of X asking for a command at Y gets
    the same 403 as for a missing id; anonymous callers 401."""
    out = []
    if "<int:pk>" not in route.raw:
        path = route.fill()
        for method in route.methods():
            out += [
                Probe(route, method, ANON, path, ApiUnauthenticated(), w.markers_all()),
                Probe(
                    route,
                    method,
                    CUSTOMER_A_ON_B,
                    f"{path}?miner_id={w.miner_b_x.miner_id}",
                    ApiDenied(),
                    w.markers_b(),
                ),
            ]
            if method == "GET":
                out.append(
                    Probe(route, "GET", NOC_X_ON_Y, f"{path}?site_id={w.site_y.code}", ScopedOrDenied(), w.markers_y())
                )
        return out
    on_b_x, on_y, own = _command(w, w.miner_b_x), _command(w, w.miner_b_y), _command(w, w.miner_a_x)
    missing = route.fill(pk=MISSING_ID)
    for method in route.methods():
        out += [
            Probe(route, method, ANON, route.fill(pk=on_b_x), ApiUnauthenticated(), w.markers_all()),
            Probe(route, method, CUSTOMER_A_ON_B, route.fill(pk=on_b_x), ApiDenied(), w.markers_b(), missing),
            Probe(route, method, NOC_X_ON_Y, route.fill(pk=on_y), ApiDenied(), w.markers_y(), missing),
        ]
    if "GET" in route.methods():  # the control: NOC X does see its own site's command
        out.append(Probe(route, "GET", NOC_X_OWN, route.fill(pk=own), Reachable(), w.markers_y()))
    return out


def _event(**filters):
    return AuditEvent.objects.filter(**filters).order_by("-id").values_list("pk", flat=True).first() or MISSING_ID


def _live(w: World, miner: Miner) -> int:
    """The miner's live row (the key is the miner's id), made once if the world has none yet:
    fixture rows written directly, the check needs objects to ask for, not the ingest path."""
    from telemetry.models import TelemetryLive

    now = timezone.now()
    defaults = {
        "site_id": miner.site_id,
        "tenant_id": miner.tenant_id,
        "ts": now,
        "received_at": now,
        "online": True,
        "hashrate_5s_ghs": 100.0,
    }
    return TelemetryLive.objects.get_or_create(miner=miner, defaults=defaults)[0].pk


def _policy(tenant) -> int:
    policy, _ = ConsentPolicy.objects.get_or_create(tenant=tenant, defaults={"consent_types": ["reboot"]})
    return policy.pk


def _alias(site) -> int:
    """An alias of the site (made once): fixture rows, the check needs objects to ask for."""
    alias, _ = SiteAlias.objects.get_or_create(site=site, value=f"legacy-{site.pk}", defaults={"kind": "legacy_id"})
    return alias.pk


def _receipt(collector: Collector) -> int:
    """An upload receipt of the collector (any one; made once if it never uploaded)."""
    from telemetry.models import IngestBatch

    found = IngestBatch.objects.filter(collector=collector).order_by("pk").values_list("pk", flat=True).first()
    if found is None:
        found = IngestBatch.objects.create(
            site_id=collector.site_id,
            collector=collector,
            token_prefix="isolation",
            endpoint="v1",
            body_format="envelope",
            received_at=timezone.now(),
            body_sha256="0" * 64,
            body_bytes=0,
            record_count=0,
            accepted=0,
            rejected=0,
            duplicates=0,
        ).pk
    return found


def _held(collector: Collector) -> int:
    """A quarantined (held encrypted) upload of the collector (made once)."""
    from telemetry.models import QuarantinedBatch

    found = QuarantinedBatch.objects.filter(collector=collector).order_by("pk").values_list("pk", flat=True).first()
    if found is None:
        found = QuarantinedBatch.objects.create(
            site_id=collector.site_id,
            collector=collector,
            token=CollectorToken.objects.filter(collector=collector).order_by("pk").first(),
            endpoint="v1",
            received_at=timezone.now(),
            body=b"isolation",
            body_sha256=f"{collector.pk:064d}",
            body_bytes=9,
            reason="PAYLOAD_KEY_MISSING",
        ).pk
    return found


TELEMETRY_SITE_PATHS = (*edge.COLLECTOR_SITE_PATHS, "/api/sites/<str:site_id>/miners")
TELEMETRY_MINER_PATHS = (
    "/api/collector/miners/<str:miner_id>/status",
    "/api/miners/<str:miner_id>/telemetry",
    "/api/v1/telemetry/miner/<str:miner_id>",
)
TELEMETRY_LIST_PATHS = ("/api/collector/stats", "/api/v1/telemetry/stats", "/api/sites", "/api/miners")


def _missing_like(value: str) -> str:
    """A code or edge id that does not exist yet reads the same to Answer.shape (digits masked):
    the missing-id probe for routes keyed by Site.code or miner_id rather than a number."""
    return re.sub(r"\d+", MISSING_ID, value)


def telemetry_read_probes(route: Route, w: World) -> list[Probe]:
    """Telemetry reads (v1 and legacy): a site or miner out of scope answers 403 like a missing one;
    at the shared site X customer A gets figures of A's miners only (B's ids and name never show)."""
    for m in (w.miner_a_x, w.miner_b_x, w.miner_b_y):
        _live(w, m)
    x, y = w.site_x.code, w.site_y.code
    p = route.path
    if p in TELEMETRY_SITE_PATHS:

        def fill(code):
            return route.fill(site_id=code)

        return [
            Probe(route, "GET", ANON, fill(x), ApiUnauthenticated(), w.markers_all()),
            Probe(route, "GET", CUSTOMER_A_ON_B, fill(y), ApiDenied(), w.markers_b(), fill(_missing_like(y))),
            Probe(route, "GET", NOC_X_ON_Y, fill(y), ApiDenied(), w.markers_y(), fill(_missing_like(y))),
            Probe(route, "GET", CUSTOMER_A_OWN, fill(x), Reachable(), w.markers_b()),
            Probe(route, "GET", NOC_X_OWN, fill(x), Reachable(), w.markers_y()),
        ]
    if p in TELEMETRY_MINER_PATHS:

        def fill(miner_id):
            return route.fill(miner_id=miner_id)

        return [
            Probe(route, "GET", ANON, fill(w.miner_a_x.miner_id), ApiUnauthenticated(), w.markers_all()),
            Probe(
                route,
                "GET",
                CUSTOMER_A_ON_B,
                fill(w.miner_b_x.miner_id),
                ApiDenied(),
                w.markers_b(),
                fill(_missing_like(w.miner_b_x.miner_id)),
            ),
            Probe(
                route,
                "GET",
                NOC_X_ON_Y,
                fill(w.miner_b_y.miner_id),
                ApiDenied(),
                w.markers_y(),
                fill(_missing_like(w.miner_b_y.miner_id)),
            ),
            Probe(route, "GET", CUSTOMER_A_OWN, fill(w.miner_a_x.miner_id), Reachable(), w.markers_b()),
        ] + (edge.original_miner_id_probes(route, w, fill) if p.startswith("/api/collector/") else [])
    path = route.fill()
    out = [
        Probe(route, "GET", ANON, f"{path}?site_id={x}", ApiUnauthenticated(), w.markers_all()),
        Probe(route, "GET", NOC_X_OWN, f"{path}?site_id={x}", Reachable(), w.markers_y()),
    ]
    if p == "/api/v1/telemetry/live":
        out += [
            Probe(
                route,
                "GET",
                CUSTOMER_A_ON_B,
                f"{path}?site_id={x}&tenant={w.tenant_b.slug}",
                ApiDenied(),
                w.markers_b(),
                f"{path}?site_id={x}&tenant=t{MISSING_ID}",
            ),
            Probe(
                route,
                "GET",
                CUSTOMER_A_ON_B,
                f"{path}?site_id={y}",
                ApiDenied(),
                w.markers_b(),
                f"{path}?site_id={MISSING_ID}",
            ),
            Probe(
                route,
                "GET",
                NOC_X_ON_Y,
                f"{path}?site_id={y}&format=compact",
                ApiDenied(),
                w.markers_y(),
                f"{path}?site_id={MISSING_ID}&format=compact",
            ),
            Probe(route, "GET", CUSTOMER_A_OWN, f"{path}?site_id={x}", Reachable(), w.markers_b()),
            Probe(route, "GET", CUSTOMER_A_OWN, f"{path}?site_id={x}&format=compact", Reachable(), w.markers_b()),
            # the original application's parameters (its shape): the whole scope, or one miner
            Probe(route, "GET", CUSTOMER_A_OWN, f"{path}?online=false", Reachable(), w.markers_b()),
            Probe(route, "GET", CUSTOMER_A_OWN, f"{path}?miner_id={w.miner_b_x.miner_id}", Reachable(), w.markers_b()),
            Probe(route, "GET", NOC_X_OWN, f"{path}?limit=5000", Reachable(), w.markers_y()),
        ]
    elif p == "/api/v1/telemetry/history":
        out += [
            Probe(
                route,
                "GET",
                CUSTOMER_A_ON_B,
                f"{path}?miner_id={x}/{w.miner_b_x.miner_id}",
                ApiDenied(),
                w.markers_b(),
                f"{path}?miner_id={x}/{MISSING_ID}",
            ),
            Probe(
                route,
                "GET",
                NOC_X_ON_Y,
                f"{path}?site_id={y}",
                ApiDenied(),
                w.markers_y(),
                f"{path}?site_id={MISSING_ID}",
            ),
            Probe(route, "GET", CUSTOMER_A_OWN, f"{path}?site_id={x}", Reachable(), w.markers_b()),
            Probe(  # the original application's parameters
                route,
                "GET",
                CUSTOMER_A_ON_B,
                f"{path}?site_id={x}&miner_id={w.miner_b_x.miner_id}&start=2026-01-01T00:00:00Z&end=2026-01-01T01:00Z",
                ApiDenied(),
                w.markers_b(),
                f"{path}?site_id={x}&miner_id={MISSING_ID}&start=2026-01-01T00:00:00Z&end=2026-01-01T01:00Z",
            ),
        ]
    elif p == "/api/miners":
        out += [
            Probe(
                route,
                "GET",
                NOC_X_ON_Y,
                f"{path}?site_id={y}",
                ApiDenied(),
                w.markers_y(),
                f"{path}?site_id={MISSING_ID}",
            ),
            Probe(route, "GET", CUSTOMER_A_OWN, path, Reachable(), w.markers_b()),
        ]
    else:  # whole-scope lists: stats, sites
        out.append(Probe(route, "GET", CUSTOMER_A_OWN, path, Reachable(), w.markers_b()))
    return out


def telemetry_admin_history_probes(route: Route, w: World) -> list[Probe]:
    """The console's tier-history page: operators of the miner's site only; another site's miner
    and a missing one get the same 403."""

    def fill(pk):
        return f"{route.fill()}?miner={pk}&tier=1m"

    return [
        Probe(route, "GET", ANON, fill(w.miner_a_x.pk), LoginRedirect(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, fill(w.miner_b_x.pk), NoAccess(), w.markers_b(), fill(MISSING_ID)),
        Probe(route, "GET", NOC_X_ON_Y, fill(w.miner_b_y.pk), NoAccess(), w.markers_y(), fill(MISSING_ID)),
        Probe(route, "GET", NOC_X_OWN, fill(w.miner_a_x.pk), Reachable(), w.markers_y()),
    ]


# Every scoped admin model: (customer A's foreign object, NOC X's foreign object, NOC X's own or None).
# A scoped ModelAdmin registered later without an entry here has no case, and fails.
ADMIN_OBJECTS: dict[type, Callable[[World], tuple]] = {
    Tenant: lambda w: (w.tenant_b.pk, w.tenant_c.pk, w.tenant_a.pk),
    Site: lambda w: (w.site_y.pk, w.site_y.pk, w.site_x.pk),
    Zone: lambda w: (w.zone_y.pk, w.zone_y.pk, w.zone_x.pk),
    Collector: lambda w: (w.collector_y.pk, w.collector_y.pk, w.collector_x.pk),
    CollectorStatus: lambda w: (w.collector_y.pk, w.collector_y.pk, w.collector_x.pk),
    CollectorToken: lambda w: (w.token_y.pk, w.token_y.pk, w.token_x.pk),
    Miner: lambda w: (w.miner_b_x.pk, w.miner_b_y.pk, w.miner_a_x.pk),
    MinerGroup: lambda w: (w.group_y.pk, w.group_y.pk, w.group_x.pk),
    RoleGrant: lambda w: (w.grant_customer_b.pk, w.grant_noc_y.pk, None),
    ObjectGrant: lambda w: (w.object_grant_group_b_y.pk, w.object_grant_group_b_y.pk, None),
    Invitation: lambda w: (w.invitation_b.pk, w.invitation_b.pk, None),
    AuditEvent: lambda w: (
        _event(tenant_id=w.tenant_b.pk),
        _event(site_code=w.site_y.code, tenant_id=None),
        _event(site_code=w.site_x.code, tenant_id=None),
    ),
    Command: lambda w: (_command(w, w.miner_b_x), _command(w, w.miner_b_y), _command(w, w.miner_a_x)),
    AuditCheckpoint: lambda w: (
        (AuditCheckpoint.objects.order_by("-pk").values_list("pk", flat=True).first() or MISSING_ID,) * 2 + (None,)
    ),
    TelemetryLive: lambda w: (_live(w, w.miner_b_x), _live(w, w.miner_b_y), _live(w, w.miner_a_x)),
    IngestBatch: lambda w: (_receipt(w.collector_y), _receipt(w.collector_y), _receipt(w.collector_x)),
    CommandAck: lambda w: (ack_object(w.collector_y), ack_object(w.collector_y), ack_object(w.collector_x)),
    QuarantinedBatch: lambda w: (_held(w.collector_y), _held(w.collector_y), _held(w.collector_x)),
    SiteAlias: lambda w: (_alias(w.site_y), _alias(w.site_y), _alias(w.site_x)),
    EdgeSafetyEvent: edge.safety_event_admin_objects,
    Rule: rule_admin_objects,
    Curtailment: curtailment_admin_objects,
    RuleHit: rule_hit_admin_objects,
    SiteEdgeSecurity: site_security_admin_objects,
    CollectorCertificate: certificate_admin_objects,
    ConsentPolicy: lambda w: (_policy(w.tenant_b), _policy(w.tenant_c), _policy(w.tenant_a)),
}
