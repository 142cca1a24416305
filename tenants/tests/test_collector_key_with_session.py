"""A collector credential that is presented but invalid is refused even when a session cookie is
sent too (issue 18: `/api/collector/status` answered the session's view): every route that takes a
collector token, found from the URL conf, answers 401 INVALID_TOKEN and runs nothing."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tenants.collector_auth import CollectorTokenAuthentication
from tenants.models import CollectorToken


def _patterns(resolver, prefix=""):
    for p in resolver.url_patterns:
        if isinstance(p, URLResolver):
            yield from _patterns(p, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p.callback


def collector_routes() -> list[tuple[str, str]]:
    out = []
    for route, callback in _patterns(get_resolver()):
        view = getattr(callback, "view_class", None)
        if view is None or CollectorTokenAuthentication not in getattr(view, "authentication_classes", ()):
            continue
        path = "/" + re.sub(r"<(?:\w+:)?\w+>", "7", route).lstrip("^").rstrip("$")
        for method in ("get", "post"):
            if hasattr(view, method):
                out.append((method, path))
    return sorted(set(out))


ROUTES = collector_routes()
BAD_CREDENTIALS = [
    {"HTTP_X_COLLECTOR_KEY": "hic_not-a-token"},
    {"HTTP_X_COLLECTOR_KEY": "hip_a-personal-token-is-no-collector-key"},
    {"HTTP_X_COLLECTOR_KEY": "   "},
    {"HTTP_AUTHORIZATION": "Bearer "},
    {"HTTP_AUTHORIZATION": "Bearer hic_not-a-token"},
]


def test_the_routes_were_found():
    paths = {p for _, p in ROUTES}
    assert {"/api/collector/status", "/api/collector/upload", "/api/edge/v1/commands/poll"} <= paths
    assert len(ROUTES) >= 12


@pytest.mark.parametrize("credential", BAD_CREDENTIALS, ids=lambda c: repr(c)[:40])
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_an_invalid_collector_key_beside_a_session_is_401(as_user, owner, world, method, path, credential):
    client = as_user(owner)
    used = list(CollectorToken.objects.values_list("pk", "last_used_at"))
    r = getattr(client, method)(
        path, **({"data": b"{}", "content_type": "application/json"} if method == "post" else {}), **credential
    )
    assert r.status_code == 401, (path, r.content)
    assert r.json()["error_code"] == "INVALID_TOKEN"
    assert list(CollectorToken.objects.values_list("pk", "last_used_at")) == used


def test_a_blank_key_beside_a_valid_bearer_token_is_the_bearer_token(client, world):
    r = client.get(
        "/api/collector/status",
        HTTP_X_COLLECTOR_KEY=" ",
        HTTP_AUTHORIZATION=f"Bearer {world.token_x}",
        HTTP_X_SITE_ID="SITE-X",
    )
    assert r.status_code == 200 and r.json()["collector"] == "edge-x"


def test_a_session_alone_still_reads_the_status(as_user, owner):
    r = as_user(owner).get("/api/collector/status")
    assert r.status_code == 200 and "sites" in r.json()
