"""Running the probes over HTTP: one client per persona, a line per probe, the verdict."""

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.module_loading import import_string

from verification.isolation.cases import case_for
from verification.isolation.cleanup import world_purge
from verification.isolation.expect import Answer, LikeAnonymous
from verification.isolation.probes import ANON, TOKEN_SUFFIX, Probe, narrowed, persona_user, with_token
from verification.isolation.routes import WRITE_METHODS, Route, route_list
from verification.isolation.world import (
    World,
    world_ensure,
    world_tokens_mint,
    world_tokens_revoke,
)
from verification.server import LocalServer

# --- running ---------------------------------------------------------------------------------------


@dataclass
class Line:
    ok: bool
    route: str
    text: str


class Client:
    """requests with one session cookie (or personal token) per persona; the server's own redirects
    are followed by hand."""

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
            user_attr = persona_user(persona)
            if persona.endswith(TOKEN_SUFFIX):
                s.headers["Authorization"] = f"Bearer {self.world.personal_tokens[user_attr][1]}"
            elif user_attr:
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

    def call(
        self, method: str, path: str, persona: str, headers: dict, csrf: bool = True, body: dict | None = None
    ) -> Answer:
        session = self._session(persona)
        extra = dict(headers)
        if csrf and method in WRITE_METHODS:
            extra |= {"X-CSRFToken": self.csrf, "Referer": f"https://{self.host}/"}
        resp = session.request(
            method, self.base_url + path, headers=extra, json=body, allow_redirects=False, timeout=30
        )
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
            code = (
                first.json().get("error_code", "")
                if first.headers.get("Content-Type", "").startswith("application/json")
                else ""
            )
        except (ValueError, AttributeError):
            code = ""
        return Answer(
            first.status_code,
            code or "",
            first.headers.get("Location", ""),
            resp.status_code,
            urlsplit(resp.url).path,
            bodies,
        )

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
    answer = client.call(probe.method, probe.path, probe.persona, probe.headers, probe.csrf, probe.body)
    problem = probe.expect.problem(answer)
    if isinstance(probe.expect, LikeAnonymous):
        anonymous = client.call(probe.method, probe.path, ANON, probe.headers, probe.csrf, probe.body)
        if anonymous.shape() != answer.shape():
            problem = (
                "a personal token changed the answer of a route that takes none: "
                f"{answer.short()} vs {anonymous.short()} anonymously"
            )
    if (
        probe.method in WRITE_METHODS
        and not isinstance(probe.expect, LikeAnonymous)
        and any(m in body for m in _CSRF_REFUSALS for body in answer.bodies)
    ):
        # A CSRF 403 says nothing about the permission gate behind it.
        problem = f"refused by CSRF before any permission check ({answer.short()})"
    if problem is None:
        leaked = next((m for m in probe.markers if any(m in body for body in answer.bodies)), None)
        if leaked:
            problem = f"answer shows {leaked!r} ({answer.short()})"
    if problem is None and probe.missing_path:
        missing = client.call(probe.method, probe.missing_path, probe.persona, probe.headers, probe.csrf, probe.body)
        if missing.shape() != answer.shape():
            problem = (
                f"answer differs for a missing id: {answer.short()} vs {missing.short()} — "
                "it tells whether the object exists"
            )
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
                yield Line(
                    False,
                    route.path,
                    f"FAIL {method} {route.path} no isolation case (case {case.name!r} has no {method} probe)",
                )
        probes += [n for n in (narrowed(p, world) for p in probes) if n is not None]
        yield from probes
        yield from _token_probes(probes)


def _token_probes(probes: list[Probe]) -> list[Probe]:
    """Each signed-in persona's probes again with its personal token: all of them on the APIs; on
    a route that takes no token (pages, collector routes) one is enough to show it is ignored."""
    out = [p for p in map(with_token, probes) if p is not None]
    ignored = [p for p in out if isinstance(p.expect, LikeAnonymous)]
    return [p for p in out if not isinstance(p.expect, LikeAnonymous)] + ignored[:1]


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
        world_purge(world.tag)
    verdict = "FAIL" if failed else "PASS"
    counts = f"routes={len(routes)} checks={passed + failed} passed={passed} failed={failed}"
    write(f"{verdict} isolation world={world.tag} {counts} at={timezone.now():%Y-%m-%dT%H:%M:%SZ}")
    return not failed
