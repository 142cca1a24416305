"""verify_tenant_isolation runs every signed-in persona's probes again with that person's personal
API token: an API that honours a token beyond its owner's scope fails the run, and so does a page
or a collector route that lets a personal token in at all."""

import pytest
from django.http import HttpResponse, JsonResponse
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants import scoping
from tenants.models import Miner, PersonalToken
from verification import isolation
from verification.isolation import ApiDenied, Case, Probe, cases
from verification.isolation.probes import CUSTOMER_A_OWN, LoginRedirect, Reachable
from verification.isolation.testing import run_isolation

# --- a URLconf with a token-blind API and a page that takes tokens (ROOT_URLCONF = this module)


class TokenBlindMinerApi(APIView):
    """Scoped for sessions, but a token call sees every miner: the bug the token probes exist for."""

    def get(self, request, pk):
        qs = Miner.objects.all() if isinstance(request.auth, PersonalToken) else scoping.miners_for(request.user)
        miner = qs.filter(pk=pk).first()
        if miner is None:
            return Response({"success": False, "error_code": "FORBIDDEN", "error": "forbidden"}, status=403)
        return Response({"miner_id": miner.miner_id})


class ScopedMinerApi(TokenBlindMinerApi):
    def get(self, request, pk):
        miner = scoping.miners_for(request.user).filter(pk=pk).first()
        if miner is None:
            return Response({"success": False, "error_code": "FORBIDDEN", "error": "forbidden"}, status=403)
        return Response({"miner_id": miner.miner_id})


def page_taking_tokens(request):
    """A page that signs in whoever sends an Authorization header: a token must change nothing on pages."""
    if request.user.is_authenticated or request.headers.get("Authorization"):
        return HttpResponse("welcome")
    return JsonResponse({}, status=302, headers={"Location": "/accounts/login/"})


urlpatterns = [
    path("api/v1/test/token-blind/<int:pk>", TokenBlindMinerApi.as_view()),
    path("api/v1/test/token-scoped/<int:pk>", ScopedMinerApi.as_view()),
    path("test/token-page/", page_taking_tokens),
    path("", include("hashinsight.urls")),
]


def _miner_probes(route, world):
    return [
        Probe(
            route,
            "GET",
            isolation.CUSTOMER_A_ON_B,
            route.fill(pk=world.miner_b_x.pk),
            ApiDenied(),
            world.markers_b(),
            route.fill(pk=isolation.MISSING_ID),
        )
    ]


def _page_probes(route, world):
    return [
        Probe(route, "GET", "anonymous", route.fill(), LoginRedirect()),
        Probe(route, "GET", CUSTOMER_A_OWN, route.fill(), Reachable()),
    ]


@pytest.fixture
def test_urls(settings, monkeypatch):
    settings.ROOT_URLCONF = __name__
    miners = {"/api/v1/test/token-blind/<int:pk>", "/api/v1/test/token-scoped/<int:pk>"}
    monkeypatch.setattr(
        cases,
        "CASES",
        [
            Case("test miner API", lambda r: r.path in miners, _miner_probes),
            Case("test page", lambda r: r.path == "/test/token-page/", _page_probes),
            *cases.CASES,
        ],
    )


run = run_isolation


@pytest.mark.django_db
def test_a_scoped_api_passes_with_the_session_and_the_token(test_urls):
    code, lines = run("--only", "/api/v1/test/token-scoped/")
    assert code == 0, lines
    assert [line.split()[3] for line in lines[:-1]] == [
        "customer_a_on_b",
        "group_customer_a_on_b",
        "customer_a_on_b+token",
        "group_customer_a_on_b+token",
    ]


@pytest.mark.django_db
def test_an_api_that_widens_a_tokens_scope_fails_the_run(test_urls):
    code, lines = run("--only", "/api/v1/test/token-blind/")
    assert code == 1
    assert lines[0].startswith("PASS GET /api/v1/test/token-blind/<int:pk> customer_a_on_b 403")
    assert any(
        line.startswith(
            "FAIL GET /api/v1/test/token-blind/<int:pk> customer_a_on_b+token expected 403 FORBIDDEN got 200"
        )
        for line in lines
    )


@pytest.mark.django_db
def test_a_page_that_lets_a_personal_token_in_fails_the_run(test_urls):
    code, lines = run("--only", "/test/token-page/")
    assert code == 1
    assert any(
        "FAIL GET /test/token-page/ customer_a_own+token a personal token changed the answer" in x for x in lines
    )


@pytest.mark.django_db
def test_the_runs_personal_tokens_are_revoked_and_removed_with_the_world_at_the_end(test_urls):
    code, lines = run("--only", "/api/v1/test/token-scoped/")
    assert code == 0, lines
    # revoked (audited) first, then deleted with the world's users (verification/isolation/cleanup.py)
    assert not PersonalToken.objects.filter(name="isolation check").exists()
    assert not PersonalToken.objects.filter(user__username__endswith="@isolation.invalid").exists()
