"""Tenant isolation, checked from the outside (SPEC §2, "One rule for denial").

Every URL route of the project is called over real HTTP by people who must not get in: a customer
of tenant A asking for tenant B's objects, a NOC operator of site X asking for site Y's, anonymous
callers, and a collector of site Y presenting its token for site X. Each route needs a *case* in
CASES saying which object fills its parameters and what each persona must get; a route without one
is itself a failure, so every endpoint added later is checked too.

Used by `manage.py verify_tenant_isolation`; the tests call the same functions.
"""

import abc
import contextlib
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.signals import request_finished, request_started
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections, transaction
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone
from django.utils.module_loading import import_string

from audit.models import AuditCheckpoint, AuditEvent
from audit.services import Actor
from control.models import Command
from hashinsight.admin_base import ScopedModelAdmin
from telemetry.models import IngestBatch, TelemetryLive
from tenants.invitations import invitation_create
from tenants.models import Collector, CollectorToken, Invitation, Miner, MinerGroup, Role, RoleGrant, Site, Tenant, Zone
from tenants.services import collector_token_create, collector_token_revoke, inventory_save, miners_register, role_grant_create

ACTOR = Actor.system("verify_tenant_isolation")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# An id no table reaches: the answer for it must equal the answer for a real object out of scope.
MISSING_ID = "2147480001"

# --- routes ----------------------------------------------------------------------------------------

_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")
_PLACEHOLDER = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclass(frozen=True)
class Route:
    """One URL pattern, with its full route as Django reports it in ResolverMatch.route."""

    raw: str
    name: str
    callback: Callable = field(compare=False)

    @property
    def path(self) -> str:
        """Readable form: '/admin/<app_label>/' for the regex '^(?P<app_label>auth|…)/$'."""
        text = _GROUP.sub(lambda m: f"<{m.group(1)}>", self.raw)
        return "/" + text.replace("^", "").replace("$", "").replace("\\", "")

    def fill(self, **values) -> str:
        def sub(m):
            if m.group(1) not in values:
                raise KeyError(f"{self.path}: no value for <{m.group(1)}>")
            return str(values[m.group(1)])

        return _PLACEHOLDER.sub(sub, self.path)

    def methods(self) -> tuple[str, ...]:
        """The methods a class-based view implements; GET for a function view."""
        view_class = getattr(self.callback, "view_class", None)
        if view_class is None:
            return ("GET",)
        names = getattr(view_class, "http_method_names", ())
        return tuple(m for m in ("GET", *WRITE_METHODS) if m.lower() in names and hasattr(view_class, m.lower()))


def route_list() -> list[Route]:
    """Every leaf pattern of the URLconf (admin's generated URLs and allauth's included)."""

    def walk(patterns, prefix: str, namespace: str) -> Iterator[Route]:
        for p in patterns:
            raw = prefix + str(p.pattern).removeprefix("^") if prefix else str(p.pattern)
            if isinstance(p, URLResolver):
                ns = ":".join(filter(None, [namespace, p.namespace]))
                yield from walk(p.url_patterns, raw, ns)
            elif isinstance(p, URLPattern):
                name = ":".join(filter(None, [namespace, p.name])) if p.name else ""
                yield Route(raw=raw, name=name, callback=p.callback)

    return list(walk(get_resolver().url_patterns, "", ""))


# --- the fixture world -----------------------------------------------------------------------------


@dataclass
class World:
    """Tenants A, B, C on sites X and Y. A and B share site X; B and C are at site Y.

    customer_a must not reach B's objects (B's miner at the shared site X included); noc_x must not
    reach site Y's objects nor tenant C (which has no miner at X)."""

    tag: str
    tenant_a: Tenant
    tenant_b: Tenant
    tenant_c: Tenant
    site_x: Site
    site_y: Site
    zone_x: Zone
    zone_y: Zone
    miner_a_x: Miner
    miner_b_x: Miner
    miner_b_y: Miner
    miner_c_y: Miner
    collector_x: Collector
    collector_y: Collector
    group_x: MinerGroup
    group_y: MinerGroup
    customer_a: object
    customer_b: object
    noc_x: object
    noc_y: object
    grant_customer_b: RoleGrant
    grant_noc_y: RoleGrant
    invitation_b: Invitation
    token_x: CollectorToken | None = None
    token_y: CollectorToken | None = None
    token_x_plain: str = ""
    token_y_plain: str = ""

    def markers_b(self) -> tuple[str, ...]:
        """Text only someone who sees tenant B's data could print."""
        return (self.tenant_b.name, self.miner_b_x.miner_id, self.miner_b_y.miner_id, self.customer_b.username)

    def markers_y(self) -> tuple[str, ...]:
        """Text only someone who sees site Y (or tenant C) could print."""
        return (
            self.site_y.code,
            self.site_y.name,
            self.tenant_c.name,
            self.miner_b_y.miner_id,
            self.miner_c_y.miner_id,
            self.collector_y.name,
            self.group_y.name,
            self.noc_y.username,
        )

    def markers_all(self) -> tuple[str, ...]:
        return (self.tag,)


def _get_or_save(model, lookup: dict, **fields):
    obj = model.objects.filter(**lookup).first()
    if obj is None:
        obj = inventory_save(actor=ACTOR, obj=model(**lookup, **fields))
    return obj


def _user(username: str):
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User(username=username, email=username)
        user.set_unusable_password()  # the check logs in by session; nobody logs in as these users
        inventory_save(actor=ACTOR, obj=user)
    return user


def _grant(user, role: str, **scope) -> RoleGrant:
    existing = RoleGrant.objects.filter(user=user, role=role, **scope).first()
    return existing or role_grant_create(actor=ACTOR, user=user, role=role, **scope)


def _miner(site: Site, tenant: Tenant, zone: Zone, miner_id: str) -> Miner:
    miners_register(actor=ACTOR, site=site, tenant=tenant, rows=[{"miner_id": miner_id, "zone": zone, "model": "S21"}], reason="isolation check")
    return Miner.objects.get(site=site, miner_id=miner_id)


def _find_tag() -> str:
    anchor = Tenant.objects.filter(slug__regex=r"^iso-[0-9a-f]{6}-a$").order_by("pk").first()
    return anchor.slug.removesuffix("-a") if anchor else f"iso-{secrets.token_hex(3)}"


@transaction.atomic
def world_ensure() -> World:
    """Create the fixture world once (all names start with iso-<hex>), reuse it on later runs.

    Audit events are append-only, so a throwaway world would leave its events behind anyway: one
    reusable world keeps the footprint to a single set of clearly named rows."""
    tag = _find_tag()
    ta = _get_or_save(Tenant, {"slug": f"{tag}-a"}, name=f"{tag} Tenant A")
    tb = _get_or_save(Tenant, {"slug": f"{tag}-b"}, name=f"{tag} Tenant B")
    tc = _get_or_save(Tenant, {"slug": f"{tag}-c"}, name=f"{tag} Tenant C")
    sx = _get_or_save(Site, {"code": f"{tag}-SITE-X"}, name=f"{tag} Site X")
    sy = _get_or_save(Site, {"code": f"{tag}-SITE-Y"}, name=f"{tag} Site Y")
    zx = _get_or_save(Zone, {"site": sx, "code": "X1"}, name=f"{tag} Zone X1")
    zy = _get_or_save(Zone, {"site": sy, "code": "Y1"}, name=f"{tag} Zone Y1")
    customer_a, customer_b = _user(f"{tag}-customer-a@isolation.invalid"), _user(f"{tag}-customer-b@isolation.invalid")
    noc_x, noc_y = _user(f"{tag}-noc-x@isolation.invalid"), _user(f"{tag}-noc-y@isolation.invalid")
    _grant(customer_a, Role.CUSTOMER, tenant=ta)
    _grant(noc_x, Role.NOC, site=sx)
    invitation_b = Invitation.objects.filter(email=f"{tag}-invitee-b@isolation.invalid").first()
    if invitation_b is None:
        invitation_b, _ = invitation_create(
            actor=ACTOR, invited_by=None, email=f"{tag}-invitee-b@isolation.invalid", role=Role.CUSTOMER, tenant=tb, valid_days=3650
        )
    return World(
        tag=tag,
        tenant_a=ta,
        tenant_b=tb,
        tenant_c=tc,
        site_x=sx,
        site_y=sy,
        zone_x=zx,
        zone_y=zy,
        miner_a_x=_miner(sx, ta, zx, f"{tag}-A-X-1"),
        miner_b_x=_miner(sx, tb, zx, f"{tag}-B-X-1"),
        miner_b_y=_miner(sy, tb, zy, f"{tag}-B-Y-1"),
        miner_c_y=_miner(sy, tc, zy, f"{tag}-C-Y-1"),
        collector_x=_get_or_save(Collector, {"site": sx, "name": f"{tag}-edge-x"}),
        collector_y=_get_or_save(Collector, {"site": sy, "name": f"{tag}-edge-y"}),
        group_x=_get_or_save(MinerGroup, {"site": sx, "name": f"{tag} Group X"}),
        group_y=_get_or_save(MinerGroup, {"site": sy, "name": f"{tag} Group Y"}),
        customer_a=customer_a,
        customer_b=customer_b,
        noc_x=noc_x,
        noc_y=noc_y,
        grant_customer_b=_grant(customer_b, Role.CUSTOMER, tenant=tb),
        grant_noc_y=_grant(noc_y, Role.NOC, site=sy),
        invitation_b=invitation_b,
    )


def world_tokens_mint(world: World) -> None:
    """Plaintexts are shown once and never stored, so every run mints its own pair (revoked after)."""
    world.token_x, world.token_x_plain = collector_token_create(actor=ACTOR, collector=world.collector_x, label="isolation check")
    world.token_y, world.token_y_plain = collector_token_create(actor=ACTOR, collector=world.collector_y, label="isolation check")


def world_tokens_revoke(world: World) -> None:
    for token in (world.token_x, world.token_y):
        if token is not None:
            collector_token_revoke(actor=ACTOR, token=token)


# --- expectations ----------------------------------------------------------------------------------


@dataclass
class Answer:
    """What the server said: the first response, and where its redirects (if any) ended."""

    status: int
    error_code: str
    location: str
    final_status: int
    final_path: str
    bodies: list[str]

    def shape(self) -> tuple:
        """What a caller can tell apart, ids in paths aside."""
        return (self.status, self.error_code, self.final_status, re.sub(r"\d+", "N", self.final_path))

    def short(self) -> str:
        text = f"{self.status}" + (f" {self.error_code}" if self.error_code else "")
        if self.location:
            text += f" -> {self.final_path} {self.final_status}"
        return text


class Expect(abc.ABC):
    label = ""

    @abc.abstractmethod
    def problem(self, answer: Answer) -> str | None:
        """Why the answer breaks the expectation, or None when it holds."""


@dataclass(frozen=True)
class ApiDenied(Expect):
    status: int = 403
    codes: tuple[str, ...] = ("FORBIDDEN",)

    @property
    def label(self):
        return f"{self.status} {'/'.join(self.codes)}"

    def problem(self, a):
        if a.status != self.status or a.error_code not in self.codes:
            return f"expected {self.label} got {a.short()}"
        return None


@dataclass(frozen=True)
class ApiUnauthenticated(Expect):
    label = "401"

    def problem(self, a):
        return None if a.status == 401 else f"expected 401 got {a.short()}"


@dataclass(frozen=True)
class LoginRedirect(Expect):
    """HTML pages send anonymous callers to the login page (through the admin's own login URL)."""

    label = "redirect to login"

    def problem(self, a):
        if a.status not in (301, 302, 303, 307, 308) or a.final_path != reverse("account_login") or a.final_status != 200:
            return f"expected {self.label} got {a.short()}"
        return None


@dataclass(frozen=True)
class NoAccess(Expect):
    """An authenticated person outside the scope of an HTML page: 403, possibly after the site's
    own redirects (<id>/ → <id>/change/)."""

    label = "403"

    def problem(self, a):
        return None if a.final_status == 403 else f"expected 403 got {a.short()}"


@dataclass(frozen=True)
class Reachable(Expect):
    """An answer in `statuses` (own data, public probes, self-service pages); the leak check on
    markers does the real work."""

    statuses: tuple[int, ...] = (200,)
    label_text: str = "200"

    @property
    def label(self):
        return self.label_text

    def problem(self, a):
        return None if a.final_status in self.statuses else f"expected {self.label} got {a.short()}"


@dataclass(frozen=True)
class ScopedOrDenied(Expect):
    """A list in the caller's scope (200) or none at all (403); never rows of the other scope."""

    label = "no rows of the other scope"

    def problem(self, a):
        return None if a.final_status in (200, 403) else f"expected 200 without foreign rows or 403, got {a.short()}"


@dataclass(frozen=True)
class SiteFigures(Expect):
    """200 listing exactly these sites with these miner totals (the caller's miners only), and
    collector details only when `collectors` (operators)."""

    miners: tuple[tuple[str, int], ...]
    collectors: bool

    @property
    def label(self):
        return f"200 sites {dict(self.miners)}" + (" with collectors" if self.collectors else " without collectors")

    def problem(self, a):
        if a.status != 200:
            return f"expected {self.label} got {a.short()}"
        try:
            sites = json.loads(a.bodies[0])["sites"]
            got = tuple(sorted((s["site_id"], sum(s["miners"].values())) for s in sites))
        except (ValueError, KeyError, TypeError, AttributeError):
            return "expected a JSON object with `sites`"
        if got != self.miners:
            return f"expected sites and miner counts {self.miners} got {got}"
        if any((s["collectors"] is not None) != self.collectors for s in sites):
            return "collector details shown to a customer" if not self.collectors else "collector details missing for an operator"
        return None


PUBLIC = Reachable(statuses=(200, 503), label_text="public, no tenant data")
SELF_SERVICE = Reachable(statuses=(200, 403, 404), label_text="own account only")

# --- probes and cases ------------------------------------------------------------------------------


@dataclass
class Probe:
    route: Route
    method: str
    persona: str
    path: str
    expect: Expect
    markers: tuple[str, ...] = ()  # must appear in no answer
    missing_path: str = ""  # same call for an id that does not exist: the answer must be the same
    headers: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """Which routes it covers, and the probes for one of them."""

    name: str
    matches: Callable[[Route], bool]
    probes: Callable[[Route, World], list[Probe]]
    #: why the route's write methods need no probe (they act on the caller's own account only)
    writes_exempt: str = ""


def _exact(*paths: str) -> Callable[[Route], bool]:
    return lambda route: route.path in paths


# Personas. "customer_a" is a Customer of tenant A; "noc_x" a NOC operator of site X.
ANON, CUSTOMER_A_ON_B, NOC_X_ON_Y, NOC_X_OWN, CUSTOMER_A_OWN = "anonymous", "customer_a_on_b", "noc_x_on_y", "noc_x_own", "customer_a_own"
COLLECTOR_Y_ON_X, COLLECTOR_X_OWN = "collector_y_on_x", "collector_x_own"
PERSONA_USER = {CUSTOMER_A_ON_B: "customer_a", CUSTOMER_A_OWN: "customer_a", NOC_X_ON_Y: "noc_x", NOC_X_OWN: "noc_x"}


def public_probes(route: Route, w: World) -> list[Probe]:
    """Probes and docs: open to anyone, and they must not print a byte of tenant data."""
    path = route.fill()
    return [
        Probe(route, "GET", ANON, path, PUBLIC, w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, path, PUBLIC, w.markers_all()),
    ]


def home_probes(route: Route, w: World) -> list[Probe]:
    """The landing page: anonymous → login; a customer sees only their own fleet; an operator
    is sent on to the NOC console, which shows nothing of another site."""
    path = route.fill()
    return [
        Probe(route, "GET", ANON, path, LoginRedirect(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_OWN, path, Reachable(), w.markers_b()),
        Probe(route, "GET", NOC_X_OWN, path, Reachable(), w.markers_y()),
    ]


COLLECTOR_COMMAND_PATHS = (
    "/api/edge/v1/commands/poll", "/api/edge/v1/commands/<path:command_id>/ack", "/api/collector/commands/pending",
    "/api/collector/commands/pending/<str:site_id>", "/api/collector/commands/ack", "/api/collector/commands/<path:command_id>/result",
)  # fmt: skip


def collector_probes(route: Route, w: World) -> list[Probe]:
    """Collector endpoints: token only. Another site's token → 403, no token → 401."""
    path = route.fill(command_id=MISSING_ID, site_id=w.site_x.code)  # command routes: an id no command has
    own = {"Authorization": f"Bearer {w.token_x_plain}", "X-Site-ID": w.site_x.code}
    other = {"Authorization": f"Bearer {w.token_y_plain}", "X-Site-ID": w.site_x.code}
    out = []
    for method in route.methods():
        out += [
            Probe(route, method, ANON, path, ApiUnauthenticated(), w.markers_all()),
            Probe(route, method, COLLECTOR_Y_ON_X, path, ApiDenied(403, ("FORBIDDEN", "SITE_MISMATCH")), w.markers_y(), headers=other),
            # A customer's session is no collector credential.
            Probe(route, method, CUSTOMER_A_ON_B, path, ApiUnauthenticated(), w.markers_all()),
        ]
    if "GET" in route.methods():  # the control: the harness's own token does get in
        out.append(Probe(route, "GET", COLLECTOR_X_OWN, path, Reachable((200, 204), "200/204"), w.markers_y(), headers=own))
    if "site_id>" in route.path:  # its own token naming another site's code in the path
        out.append(Probe(route, "GET", COLLECTOR_X_OWN, route.fill(site_id=w.site_y.code), ApiDenied(403, ("SITE_MISMATCH",)), w.markers_y(), headers=own))
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
        Probe(route, "GET", CUSTOMER_A_OWN, path, SiteFigures(((x, 1),), collectors=False), (*w.markers_b(), w.collector_x.name)),
        Probe(route, "GET", NOC_X_OWN, path, SiteFigures(((x, 2),), collectors=True), w.markers_y()),
    ]


def audit_api_probes(route: Route, w: World) -> list[Probe]:
    """Operators only; a NOC of site X asking for site Y's events gets an empty page."""
    path = route.fill()
    y_events = f"{path}?entity_type=tenants.site&entity_id={w.site_y.pk}"
    return [
        Probe(route, "GET", ANON, path, ApiUnauthenticated(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, f"{path}?entity_type=tenants.miner&entity_id={w.miner_b_x.pk}", ApiDenied(), w.markers_b()),
        Probe(route, "GET", NOC_X_ON_Y, y_events, ScopedOrDenied(), w.markers_y()),
    ]


def _command(w: World, miner: Miner) -> int:
    """A command on `miner` (made once through the lifecycle service, an inert set_fan; reused later)."""
    from control.services.lifecycle import command_create

    found = Command.objects.filter(miner=miner, created_by_system="verify_tenant_isolation").order_by("pk").values_list("pk", flat=True).first()
    if found is None:
        found = command_create(
            actor=ACTOR, user=None, miner=miner, command_type="set_fan", params={"speed": 100},
            reason="isolation check", created_by_system="verify_tenant_isolation",
        ).pk  # fmt: skip
    return found


COMMAND_API_PATHS = {
    f"/api/{prefix}commands{suffix}"
    for prefix in ("admin/v1/", "v1/")
    for suffix in ("", "/<int:pk>", "/<int:pk>/approve", "/<int:pk>/reject", "/<int:pk>/cancel", "/<int:pk>/rollback")
} | {f"/api/collector/commands{suffix}" for suffix in ("", "/batch", "/history", "/stats", "/<int:pk>")}


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
                Probe(route, method, CUSTOMER_A_ON_B, f"{path}?miner_id={w.miner_b_x.miner_id}", ApiDenied(), w.markers_b()),
            ]
            if method == "GET":
                out.append(Probe(route, "GET", NOC_X_ON_Y, f"{path}?site_id={w.site_y.code}", ScopedOrDenied(), w.markers_y()))
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
    defaults = {"site_id": miner.site_id, "tenant_id": miner.tenant_id, "ts": now, "received_at": now, "online": True, "hashrate_5s_ghs": 100.0}
    return TelemetryLive.objects.get_or_create(miner=miner, defaults=defaults)[0].pk


def _receipt(collector: Collector) -> int:
    """An upload receipt of the collector (any one; made once if it never uploaded)."""
    from telemetry.models import IngestBatch

    found = IngestBatch.objects.filter(collector=collector).order_by("pk").values_list("pk", flat=True).first()
    if found is None:
        found = IngestBatch.objects.create(
            site_id=collector.site_id, collector=collector, token_prefix="isolation", endpoint="v1", body_format="envelope",
            received_at=timezone.now(), body_sha256="0" * 64, body_bytes=0, record_count=0, accepted=0, rejected=0, duplicates=0,
        ).pk  # fmt: skip
    return found


TELEMETRY_SITE_PATHS = ("/api/collector/live/<str:site_id>", "/api/collector/summary/<str:site_id>")
TELEMETRY_MINER_PATHS = ("/api/collector/miners/<str:miner_id>/status", "/api/miners/<str:miner_id>/telemetry")
TELEMETRY_LIST_PATHS = ("/api/collector/stats", "/api/sites", "/api/miners")


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
        fill = lambda code: route.fill(site_id=code)  # noqa: E731
        return [
            Probe(route, "GET", ANON, fill(x), ApiUnauthenticated(), w.markers_all()),
            Probe(route, "GET", CUSTOMER_A_ON_B, fill(y), ApiDenied(), w.markers_b(), fill(_missing_like(y))),
            Probe(route, "GET", NOC_X_ON_Y, fill(y), ApiDenied(), w.markers_y(), fill(_missing_like(y))),
            Probe(route, "GET", CUSTOMER_A_OWN, fill(x), Reachable(), w.markers_b()),
            Probe(route, "GET", NOC_X_OWN, fill(x), Reachable(), w.markers_y()),
        ]
    if p in TELEMETRY_MINER_PATHS:
        fill = lambda miner_id: route.fill(miner_id=miner_id)  # noqa: E731
        return [
            Probe(route, "GET", ANON, fill(w.miner_a_x.miner_id), ApiUnauthenticated(), w.markers_all()),
            Probe(route, "GET", CUSTOMER_A_ON_B, fill(w.miner_b_x.miner_id), ApiDenied(), w.markers_b(), fill(_missing_like(w.miner_b_x.miner_id))),
            Probe(route, "GET", NOC_X_ON_Y, fill(w.miner_b_y.miner_id), ApiDenied(), w.markers_y(), fill(_missing_like(w.miner_b_y.miner_id))),
            Probe(route, "GET", CUSTOMER_A_OWN, fill(w.miner_a_x.miner_id), Reachable(), w.markers_b()),
        ]
    path = route.fill()
    out = [
        Probe(route, "GET", ANON, f"{path}?site_id={x}", ApiUnauthenticated(), w.markers_all()),
        Probe(route, "GET", NOC_X_OWN, f"{path}?site_id={x}", Reachable(), w.markers_y()),
    ]
    if p == "/api/v1/telemetry/live":
        out += [
            Probe(route, "GET", CUSTOMER_A_ON_B, f"{path}?site_id={x}&tenant={w.tenant_b.slug}", ApiDenied(), w.markers_b(), f"{path}?site_id={x}&tenant=t{MISSING_ID}"),
            Probe(route, "GET", CUSTOMER_A_ON_B, f"{path}?site_id={y}", ApiDenied(), w.markers_b(), f"{path}?site_id={MISSING_ID}"),
            Probe(route, "GET", NOC_X_ON_Y, f"{path}?site_id={y}&format=compact", ApiDenied(), w.markers_y(), f"{path}?site_id={MISSING_ID}&format=compact"),
            Probe(route, "GET", CUSTOMER_A_OWN, f"{path}?site_id={x}", Reachable(), w.markers_b()),
            Probe(route, "GET", CUSTOMER_A_OWN, f"{path}?site_id={x}&format=compact", Reachable(), w.markers_b()),
        ]
    elif p == "/api/v1/telemetry/history":
        out += [
            Probe(route, "GET", CUSTOMER_A_ON_B, f"{path}?miner_id={x}/{w.miner_b_x.miner_id}", ApiDenied(), w.markers_b(), f"{path}?miner_id={x}/{MISSING_ID}"),
            Probe(route, "GET", NOC_X_ON_Y, f"{path}?site_id={y}", ApiDenied(), w.markers_y(), f"{path}?site_id={MISSING_ID}"),
            Probe(route, "GET", CUSTOMER_A_OWN, f"{path}?site_id={x}", Reachable(), w.markers_b()),
        ]
    elif p == "/api/miners":
        out += [
            Probe(route, "GET", NOC_X_ON_Y, f"{path}?site_id={y}", ApiDenied(), w.markers_y(), f"{path}?site_id={MISSING_ID}"),
            Probe(route, "GET", CUSTOMER_A_OWN, path, Reachable(), w.markers_b()),
        ]
    else:  # whole-scope lists: stats, sites
        out.append(Probe(route, "GET", CUSTOMER_A_OWN, path, Reachable(), w.markers_b()))
    return out


def telemetry_admin_history_probes(route: Route, w: World) -> list[Probe]:
    """The console's tier-history page: operators of the miner's site only; another site's miner
    and a missing one get the same 403."""
    fill = lambda pk: f"{route.fill()}?miner={pk}&tier=1m"  # noqa: E731
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
    CollectorToken: lambda w: (w.token_y.pk, w.token_y.pk, w.token_x.pk),
    Miner: lambda w: (w.miner_b_x.pk, w.miner_b_y.pk, w.miner_a_x.pk),
    MinerGroup: lambda w: (w.group_y.pk, w.group_y.pk, w.group_x.pk),
    RoleGrant: lambda w: (w.grant_customer_b.pk, w.grant_noc_y.pk, None),
    Invitation: lambda w: (w.invitation_b.pk, w.invitation_b.pk, None),
    AuditEvent: lambda w: (
        _event(tenant_id=w.tenant_b.pk),
        _event(site_code=w.site_y.code, tenant_id=None),
        _event(site_code=w.site_x.code, tenant_id=None),
    ),
    Command: lambda w: (_command(w, w.miner_b_x), _command(w, w.miner_b_y), _command(w, w.miner_a_x)),
    AuditCheckpoint: lambda w: (AuditCheckpoint.objects.order_by("-pk").values_list("pk", flat=True).first() or MISSING_ID,) * 2 + (None,),
    TelemetryLive: lambda w: (_live(w, w.miner_b_x), _live(w, w.miner_b_y), _live(w, w.miner_a_x)),
    IngestBatch: lambda w: (_receipt(w.collector_y), _receipt(w.collector_y), _receipt(w.collector_x)),
}


def _platform_object(model, w: World):
    """Third-party admins are platform-only: any row is out of scope for customers and operators."""
    if model is get_user_model():
        return w.customer_b.pk
    return model._default_manager.order_by("pk").values_list("pk", flat=True).first() or MISSING_ID


def _admin_model(route: Route):
    """(model, model admin, suffix) when the route is one of a registered ModelAdmin's standard URLs."""
    for model, model_admin in admin.site._registry.items():
        prefix = f"admin/{model._meta.app_label}/{model._meta.model_name}/"
        if route.raw.startswith(prefix) and route.raw[len(prefix) :] in _ADMIN_SUFFIXES:
            return model, model_admin, route.raw[len(prefix) :]
    return None


_ADMIN_SUFFIXES = {"": ("GET", "POST"), "add/": ("GET", "POST"), "<path:object_id>/": ("GET",)}
_ADMIN_SUFFIXES |= {f"<path:object_id>/{s}/": ("GET", "POST") for s in ("change", "delete")}
_ADMIN_SUFFIXES["<path:object_id>/history/"] = ("GET",)


def _admin_model_covered(route: Route) -> bool:
    found = _admin_model(route)
    if found is None:
        return False
    model, model_admin, _ = found
    # A scoped admin needs its objects in ADMIN_OBJECTS; a new model without them has no case.
    return not isinstance(model_admin, ScopedModelAdmin) or model in ADMIN_OBJECTS


def admin_model_probes(route: Route, w: World) -> list[Probe]:
    """Changelist, add, change, delete, history of every admin model. Writes are empty POSTs: the
    permission gate answers before any form is read, so a broken gate shows without changing data."""
    model, model_admin, suffix = _admin_model(route)
    scoped = isinstance(model_admin, ScopedModelAdmin)
    objects = ADMIN_OBJECTS[model](w) if scoped else (_platform_object(model, w),) * 2 + (None,)
    for_customer, for_noc, own = objects
    out = []
    if "object_id" not in suffix:
        path = route.fill()
        out += [
            Probe(route, "GET", ANON, path, LoginRedirect(), w.markers_all()),
            Probe(route, "GET", CUSTOMER_A_ON_B, path, NoAccess(), w.markers_b()),
            Probe(route, "POST", CUSTOMER_A_ON_B, path, NoAccess(), w.markers_b()),
        ]
        if suffix == "":
            out.append(Probe(route, "GET", NOC_X_ON_Y, path, ScopedOrDenied(), w.markers_y()))
        return out
    # Django's RedirectView at <id>/ answers every method: each one gets probed.
    methods = dict.fromkeys(_ADMIN_SUFFIXES[suffix] + route.methods())
    for method in methods:
        out += [
            Probe(route, method, CUSTOMER_A_ON_B, route.fill(object_id=for_customer), NoAccess(), w.markers_b(), route.fill(object_id=MISSING_ID)),
            Probe(route, method, NOC_X_ON_Y, route.fill(object_id=for_noc), NoAccess(), w.markers_y(), route.fill(object_id=MISSING_ID)),
        ]
    out.append(Probe(route, "GET", ANON, route.fill(object_id=for_customer), LoginRedirect(), w.markers_all()))
    if own is not None and suffix in ("<path:object_id>/change/", "<path:object_id>/history/"):
        out.append(Probe(route, "GET", NOC_X_OWN, route.fill(object_id=own), Reachable(), w.markers_y()))
    return out


ADMIN_SITE_PAGES = {
    "admin:index", "admin:login", "admin:logout", "admin:password_change", "admin:password_change_done",
    "admin:autocomplete", "admin:jsi18n", "admin:app_list",
}  # fmt: skip
PUBLIC_PATHS = ("/health", "/health/deep", "/ready", "/alive", "/metrics", "/api/schema/", "/api/docs/", "/api/redoc/")


def admin_site_probes(route: Route, w: World) -> list[Probe]:
    """The console's own pages (index, app index, password, jsi18n, autocomplete, catch-all):
    operators only — customers 403, anonymous to the login page. Logout is never POSTed."""
    path = route.fill(app_label="tenants", url="isolation-missing/")
    out = [
        Probe(route, "GET", ANON, path, LoginRedirect(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, path, NoAccess(), w.markers_b()),
    ]
    if route.name in ("admin:index", "admin:app_list"):
        out.append(Probe(route, "GET", NOC_X_ON_Y, path, Reachable(), w.markers_y()))
    if route.name == "admin:autocomplete":
        # Choices for a miner's owner, searched for tenant C (no miner at site X).
        query = f"?app_label=tenants&model_name=miner&field_name=tenant&term={w.tenant_c.slug}"
        out.append(Probe(route, "GET", NOC_X_ON_Y, path + query, ScopedOrDenied(), w.markers_y()))
    return out


def admin_user_password_probes(route: Route, w: World) -> list[Probe]:
    """UserAdmin's own /password/ page: platform-only, and it changes a password."""
    path, missing = route.fill(id=w.customer_b.pk), route.fill(id=MISSING_ID)
    out = [Probe(route, "GET", ANON, path, LoginRedirect(), w.markers_all())]
    for method in ("GET", "POST"):
        out += [
            Probe(route, method, CUSTOMER_A_ON_B, path, NoAccess(), w.markers_b(), missing),
            Probe(route, method, NOC_X_ON_Y, path, NoAccess(), w.markers_b(), missing),
        ]
    return out


def admin_view_on_site_probes(route: Route, w: World) -> list[Probe]:
    """/admin/r/<content type>/<object>/: must not tell an operator whether another site's object exists."""
    from django.contrib.contenttypes.models import ContentType

    ct = ContentType.objects.get_for_model(Miner).pk
    path, missing = route.fill(content_type_id=ct, object_id=w.miner_b_y.pk), route.fill(content_type_id=ct, object_id=MISSING_ID)
    return [
        Probe(route, "GET", ANON, path, LoginRedirect(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, path, NoAccess(), w.markers_b(), missing),
        Probe(route, "GET", NOC_X_ON_Y, path, NoAccess(), w.markers_y(), missing),
    ]


# allauth's pages (and the invitation link) act on the caller's own account only: no object of
# anyone else is named in their URLs, and their forms change the caller's own account, so no
# write is sent. A new route under /accounts/ is in neither list, and fails until it is placed.
ACCOUNT_PUBLIC = {
    "account_login", "account_logout", "account_signup", "account_inactive", "account_confirm_login_code",
    "account_reset_password", "account_reset_password_done", "account_reset_password_from_key",
    "account_reset_password_from_key_done", "account_email_verification_sent", "account_confirm_email",
    "mfa_authenticate", "invitation",
}  # fmt: skip
ACCOUNT_SIGNED_IN = {
    "account_email", "account_change_password", "account_set_password", "account_reauthenticate",
    "account_request_reauthentication_code", "account_confirm_reauthentication_code", "mfa_index",
    "mfa_reauthenticate", "mfa_activate_totp", "mfa_deactivate_totp", "mfa_view_recovery_codes",
    "mfa_generate_recovery_codes", "mfa_download_recovery_codes",
}  # fmt: skip
OWN_ACCOUNT = "forms change the caller's own account only"


def account_public_probes(route: Route, w: World) -> list[Probe]:
    """Anonymous callers get the page (or the login page, or 404 for a bogus key); a signed-in
    customer gets their own account's answer, with nobody else's data in it."""
    path = route.fill(key=f"{w.tag}-bogus", uidb36="1", token=f"{w.tag}-bogus")
    return [
        Probe(route, "GET", ANON, path, Reachable(statuses=(200, 404), label_text="login or public page"), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_OWN, path, SELF_SERVICE, w.markers_b()),
    ]


def account_signed_in_probes(route: Route, w: World) -> list[Probe]:
    path = route.fill()
    return [
        Probe(route, "GET", ANON, path, LoginRedirect(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_OWN, path, SELF_SERVICE, w.markers_b()),
    ]


CASES: list[Case] = [
    Case("public probe", _exact(*PUBLIC_PATHS), public_probes),
    Case("home page", _exact("/"), home_probes),
    Case("collector status (collectors and people)", _exact("/api/collector/status"), collector_status_probes),
    Case(
        "collector API",
        _exact("/api/collector/upload", "/api/collector/telemetry", "/api/edge/v1/telemetry/batch", *COLLECTOR_COMMAND_PATHS),
        collector_probes,
    ),
    Case("operator API: audit", _exact("/api/admin/v1/audit"), audit_api_probes),
    Case(
        "telemetry reads",
        _exact("/api/v1/telemetry/live", "/api/v1/telemetry/history", *TELEMETRY_SITE_PATHS, *TELEMETRY_MINER_PATHS, *TELEMETRY_LIST_PATHS),
        telemetry_read_probes,
    ),
    Case("admin: telemetry history", _exact("/admin/telemetry/telemetrylive/history/"), telemetry_admin_history_probes),
    Case("operator API: commands", _exact(*COMMAND_API_PATHS), command_api_probes),
    Case("admin model", _admin_model_covered, admin_model_probes),
    Case("admin: user password", _exact("/admin/auth/user/<id>/password/"), admin_user_password_probes),
    Case("admin: view on site", _exact("/admin/r/<path:content_type_id>/<path:object_id>/"), admin_view_on_site_probes),
    Case("admin site page", lambda r: r.name in ADMIN_SITE_PAGES or r.path == "/admin/<url>", admin_site_probes),
    Case("account page (public)", lambda r: r.name in ACCOUNT_PUBLIC, account_public_probes, writes_exempt=OWN_ACCOUNT),
    Case("account page (signed in)", lambda r: r.name in ACCOUNT_SIGNED_IN, account_signed_in_probes, writes_exempt=OWN_ACCOUNT),
]


def case_for(route: Route) -> Case | None:
    return next((c for c in CASES if c.matches(route)), None)


def routes_without_case() -> list[Route]:
    return [r for r in route_list() if case_for(r) is None]


# --- running ---------------------------------------------------------------------------------------


@dataclass
class Line:
    ok: bool
    route: str
    text: str


class Client:
    """requests with one session cookie per persona; the server's own redirects are followed by hand."""

    def __init__(self, base_url: str, world: World):
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc
        self.csrf = secrets.token_hex(16)  # a 32-character CSRF secret: Django accepts it unmasked
        self.sessions: dict[str, requests.Session] = {}
        self.session_keys: list[str] = []
        self.world = world

    def _session(self, persona: str) -> requests.Session:
        if persona not in self.sessions:
            s = requests.Session()
            s.headers["X-Forwarded-Proto"] = "https"  # a TLS proxy's header: no SSL redirect, real CSRF rules
            s.cookies.set(settings.CSRF_COOKIE_NAME, self.csrf)
            user_attr = PERSONA_USER.get(persona)
            if user_attr:
                s.cookies.set(settings.SESSION_COOKIE_NAME, self._login(getattr(self.world, user_attr)))
            self.sessions[persona] = s
        return self.sessions[persona]

    def _login(self, user) -> str:
        """A session like django.contrib.auth.login() makes, without the login form."""
        store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        self.session_keys.append(store.session_key)
        return store.session_key

    def call(self, method: str, path: str, persona: str, headers: dict) -> Answer:
        session = self._session(persona)
        extra = dict(headers)
        if method in WRITE_METHODS:
            extra |= {"X-CSRFToken": self.csrf, "Referer": f"https://{self.host}/"}
        resp = session.request(method, self.base_url + path, headers=extra, allow_redirects=False, timeout=30)
        first, bodies = resp, [resp.text]
        for _ in range(5):  # admin → admin login → allauth login is the longest chain
            location = resp.headers.get("Location")
            if resp.status_code not in (301, 302, 303, 307, 308) or not location:
                break
            target = urlsplit(location)
            if target.netloc and target.netloc != self.host:
                break
            url = self.base_url + target.path + (f"?{target.query}" if target.query else "")
            resp = session.get(url, headers=headers, allow_redirects=False, timeout=30)
            bodies.append(resp.text)
        try:
            code = first.json().get("error_code", "") if first.headers.get("Content-Type", "").startswith("application/json") else ""
        except (ValueError, AttributeError):
            code = ""
        return Answer(first.status_code, code or "", first.headers.get("Location", ""), resp.status_code, urlsplit(resp.url).path, bodies)

    def close(self):
        from django.contrib.sessions.models import Session

        Session.objects.filter(session_key__in=self.session_keys).delete()
        for s in self.sessions.values():
            s.close()


def _resolves_to(path: str, route: Route) -> bool:
    try:
        return resolve(urlsplit(path).path).route == route.raw
    except Resolver404:
        return False


_CSRF_REFUSALS = ("CSRF verification failed", "CSRF Failed")


def probe_run(client: Client, probe: Probe) -> Line:
    head = f"{probe.method} {probe.route.path} {probe.persona}"
    if not _resolves_to(probe.path, probe.route):
        return Line(False, probe.route.path, f"FAIL {head} probe path {probe.path} does not resolve to this route")
    answer = client.call(probe.method, probe.path, probe.persona, probe.headers)
    problem = probe.expect.problem(answer)
    if probe.method in WRITE_METHODS and any(m in body for m in _CSRF_REFUSALS for body in answer.bodies):
        # A CSRF 403 says nothing about the permission gate behind it.
        problem = f"refused by CSRF before any permission check ({answer.short()})"
    if problem is None:
        leaked = next((m for m in probe.markers if any(m in body for body in answer.bodies)), None)
        if leaked:
            problem = f"answer shows {leaked!r} ({answer.short()})"
    if problem is None and probe.missing_path:
        missing = client.call(probe.method, probe.missing_path, probe.persona, probe.headers)
        if missing.shape() != answer.shape():
            problem = f"answer differs for a missing id: {answer.short()} vs {missing.short()} — it tells whether the object exists"
    if problem:
        return Line(False, probe.route.path, f"FAIL {head} {problem} [{probe.method} {probe.path}]")
    suffix = " (same as a missing id)" if probe.missing_path else ""
    return Line(True, probe.route.path, f"PASS {head} {probe.expect.label}{suffix}")


def plan(world: World, only: str = "") -> Iterator[Probe | Line]:
    """Probes for every route, or a FAIL line for a route (and method) no case covers."""
    for route in route_list():
        if only and not route.path.startswith(only):
            continue
        case = case_for(route)
        if case is None:
            for method in route.methods():
                yield Line(False, route.path, f"FAIL {method} {route.path} no isolation case")
            continue
        probes = case.probes(route, world)
        covered = {p.method for p in probes}
        for method in () if case.writes_exempt else route.methods():
            if method not in covered:
                yield Line(False, route.path, f"FAIL {method} {route.path} no isolation case (case {case.name!r} has no {method} probe)")
        yield from probes


# --- the in-process server -------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    # Without TCP_NODELAY every keep-alive answer waits out the client's 40 ms delayed ACK.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass


class _Server(ThreadedWSGIServer):
    def _close_connections(self):
        # A shared connection carries the caller's open transaction: closing it would end it.
        if not self.connections_override:
            super()._close_connections()


class LocalServer:
    """The project's WSGI app on 127.0.0.1:<free port> in a thread, like LiveServerThread.

    Called inside a transaction (the tests), the request threads use the caller's connection:
    the fixture world is not committed, and requests are sequential, so one connection is safe."""

    def __init__(self):
        self.connection = connections[DEFAULT_DB_ALIAS]  # the wrapper itself, not the thread-local proxy
        self.shared = self.connection.in_atomic_block
        self.server = None
        self.thread = None

    def __enter__(self) -> str:
        override = None
        if self.shared:
            self.connection.inc_thread_sharing()
            override = {DEFAULT_DB_ALIAS: self.connection}
            # The request signals would close the shared connection (and its transaction).
            request_started.disconnect(close_old_connections)
            request_finished.disconnect(close_old_connections)
        self.server = _Server(("127.0.0.1", 0), _QuietHandler, allow_reuse_address=False, connections_override=override)
        self.server.set_app(WSGIHandler())
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        if self.shared:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
            self.connection.dec_thread_sharing()


def isolation_verify(*, base_url: str = "", only: str = "", write=print) -> bool:
    """Run every probe; write one line each and a summary. True when nothing failed."""
    world = world_ensure()
    world_tokens_mint(world)
    passed = failed = 0
    routes = set()
    try:
        with LocalServer() if not base_url else contextlib.nullcontext(base_url) as url:
            client = Client(url, world)
            try:
                for item in plan(world, only):
                    line = item if isinstance(item, Line) else probe_run(client, item)
                    write(line.text)
                    passed, failed = passed + line.ok, failed + (not line.ok)
                    routes.add(line.route)
            finally:
                client.close()
    finally:
        world_tokens_revoke(world)
    verdict = "FAIL" if failed else "PASS"
    counts = f"routes={len(routes)} checks={passed + failed} passed={passed} failed={failed}"
    write(f"{verdict} isolation world={world.tag} {counts} at={timezone.now():%Y-%m-%dT%H:%M:%SZ}")
    return not failed

