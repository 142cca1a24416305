"""manage.py verify_tenant_isolation: every route has a case, the project passes, and leaks show.

The command serves the app in a thread and calls it over HTTP; inside the test transaction that
thread shares the test's connection (tenants.LocalServer), so no transaction=True."""

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.http import JsonResponse
from django.urls import include, path

from tenants import scoping
from tenants.models import Miner, Site, Tenant
from verification import isolation
from verification.isolation import ApiDenied, Case, Probe, cases
from verification.isolation.testing import run_isolation

# --- a URLconf with endpoints written the right way and the wrong ways (ROOT_URLCONF = this module)


def _forbidden():
    return JsonResponse({"success": False, "error_code": "FORBIDDEN", "error": "forbidden"}, status=403)


def scoped_miner(request, pk):
    miner = scoping.miners_for(request.user).filter(pk=pk).first()
    return _forbidden() if miner is None else JsonResponse({"miner_id": miner.miner_id})


def leaky_miner(request, pk):
    miner = Miner.objects.select_related("tenant").get(pk=pk)
    return JsonResponse({"miner_id": miner.miner_id, "tenant": miner.tenant.name})


def oracle_miner(request, pk):
    if not Miner.objects.filter(pk=pk).exists():
        return JsonResponse({"success": False, "error_code": "NOT_FOUND", "error": "not found"}, status=404)
    return _forbidden()


def chatty_miner(request, pk):
    miner = Miner.objects.select_related("tenant").get(pk=pk)
    return JsonResponse(
        {"success": False, "error_code": "FORBIDDEN", "error": f"{miner.miner_id} belongs to {miner.tenant.name}"},
        status=403,
    )


def uncased(request):
    return JsonResponse({"ok": True})


urlpatterns = [
    path("api/v1/test/scoped/<int:pk>", scoped_miner),
    path("api/v1/test/leaky/<int:pk>", leaky_miner),
    path("api/v1/test/oracle/<int:pk>", oracle_miner),
    path("api/v1/test/chatty/<int:pk>", chatty_miner),
    path("api/v1/test/uncased", uncased),
    path("", include("hashinsight.urls")),
]


def _miner_probes(route, world):
    """What a real case for a miner endpoint says: B's miner at the shared site X → 403 FORBIDDEN."""
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


@pytest.fixture
def test_urls(settings, monkeypatch):
    settings.ROOT_URLCONF = __name__
    cased = {f"/api/v1/test/{name}/<int:pk>" for name in ("scoped", "leaky", "oracle", "chatty")}
    monkeypatch.setattr(
        cases, "CASES", [Case("test miner endpoint", lambda r: r.path in cased, _miner_probes), *cases.CASES]
    )


run = run_isolation


# --- tests ---------------------------------------------------------------------------------------


def test_every_route_has_an_isolation_case():
    routes = isolation.route_list()
    assert len(routes) > 100  # admin's generated URLs and allauth's are enumerated too
    assert [r.path for r in isolation.routes_without_case()] == []


@pytest.mark.django_db
def test_the_project_passes_for_every_route_and_persona():
    code, lines = run()
    fails = [line for line in lines if not line.startswith("PASS")]
    assert fails == []
    assert code == 0
    checked = {line.split()[2] for line in lines[:-1]}
    assert checked == {r.path for r in isolation.route_list()}
    personas = {line.split()[3] for line in lines[:-1]}
    assert {"anonymous", "customer_a_on_b", "noc_x_on_y", "collector_y_on_x"} <= personas
    # every signed-in persona again with its personal API token
    assert {"customer_a_on_b+token", "noc_x_on_y+token", "customer_a_own+token", "noc_x_own+token"} <= personas
    assert any(line.startswith("PASS POST /api/admin/v1/commands customer_a_on_b+token 403") for line in lines)
    assert any(
        line.startswith("PASS POST /admin/tenants/miner/<path:object_id>/change/ customer_a_on_b 403") for line in lines
    )
    assert lines[-1].startswith("PASS isolation ")
    _assert_world_removed(tag=lines[-1].split("world=")[1].split()[0])


def _assert_world_removed(tag: str):
    """The run's scratch world is gone, and no row anywhere points at a site, tenant or miner that
    no longer exists (the telemetry tiers have no foreign-key constraint to catch that)."""
    assert tag.startswith("iso-")
    assert not Tenant.objects.filter(slug__startswith=tag).exists()
    assert not Site.objects.filter(code__startswith=tag).exists()
    assert not Miner.objects.filter(miner_id__startswith=tag).exists()
    assert not get_user_model().objects.filter(username__startswith=tag).exists()
    targets = {Site: Site.objects.all(), Tenant: Tenant.objects.all(), Miner: Miner.objects.all()}
    orphans = {}
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model in targets:
                qs = model._base_manager.filter(**{f"{field.name}__isnull": False})
                count = qs.exclude(**{f"{field.name}__in": targets[field.related_model].values("pk")}).count()
                if count:
                    orphans[f"{model._meta.label}.{field.name}"] = count
    assert orphans == {}


@pytest.mark.django_db
def test_a_scoped_endpoint_passes(test_urls):
    code, lines = run("--only", "/api/v1/test/scoped/")
    assert code == 0
    assert lines[0] == "PASS GET /api/v1/test/scoped/<int:pk> customer_a_on_b 403 FORBIDDEN (same as a missing id)"


@pytest.mark.django_db
def test_a_view_returning_another_tenants_miner_fails_the_run(test_urls):
    code, lines = run("--only", "/api/v1/test/leaky/")
    assert code == 1
    assert lines[0].startswith("FAIL GET /api/v1/test/leaky/<int:pk> customer_a_on_b expected 403 FORBIDDEN got 200")
    assert lines[-1].startswith("FAIL isolation ")


@pytest.mark.django_db
def test_a_403_that_differs_for_a_missing_id_fails(test_urls):
    code, lines = run("--only", "/api/v1/test/oracle/")
    assert code == 1
    assert "answer differs for a missing id: 403 FORBIDDEN vs 404 NOT_FOUND" in lines[0]


@pytest.mark.django_db
def test_a_403_naming_the_other_tenant_fails(test_urls):
    code, lines = run("--only", "/api/v1/test/chatty/")
    assert code == 1
    assert lines[0].startswith("FAIL GET /api/v1/test/chatty/<int:pk> customer_a_on_b answer shows 'iso-")


@pytest.mark.django_db
def test_a_route_added_without_a_case_fails(test_urls):
    assert [r.path for r in isolation.routes_without_case()] == ["/api/v1/test/uncased"]
    code, lines = run("--only", "/api/v1/test/uncased")
    assert code == 1
    assert lines[0] == "FAIL GET /api/v1/test/uncased no isolation case"


@pytest.mark.django_db
def test_the_world_is_created_once_and_reused():
    first = isolation.world_ensure()
    again = isolation.world_ensure()
    assert again.tag == first.tag
    assert (again.miner_b_x.pk, again.noc_x.pk) == (first.miner_b_x.pk, first.noc_x.pk)
    assert Miner.objects.filter(miner_id__startswith=first.tag).count() == 4
    # customer A sees B's miner at the shared site X only as "not yours"
    assert not scoping.miners_for(first.customer_a).filter(pk=first.miner_b_x.pk).exists()
    assert not scoping.tenants_for(first.noc_x).filter(pk=first.tenant_c.pk).exists()


@pytest.mark.django_db
def test_a_write_refused_by_csrf_does_not_count_as_denied(settings):
    settings.CSRF_HEADER_NAME = "HTTP_X_NOT_THE_HARNESS_HEADER"
    code, lines = run("--only", "/admin/tenants/site/add/")
    assert code == 1
    assert [line.split(" refused")[0] for line in lines if "refused by CSRF" in line] == [
        "FAIL POST /admin/tenants/site/add/ customer_a_on_b",
        "FAIL POST /admin/tenants/site/add/ group_customer_a_on_b",
    ]


@pytest.mark.django_db
def test_the_status_route_checks_collectors_and_people():
    code, lines = run("--only", "/api/collector/status")
    assert code == 0
    personas = [line.split()[3] for line in lines[:-1]]
    assert personas == [
        "anonymous",
        "collector_y_on_x",
        "collector_x_own",
        "customer_a_own",
        "noc_x_own",
        "group_customer_a_own",
        "zone_tech_x_own",
        "customer_a_own+token",
        "noc_x_own+token",
        "group_customer_a_own+token",
        "zone_tech_x_own+token",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("leak", ["counts", "collectors"])
def test_status_figures_beyond_the_callers_miners_fail_the_run(monkeypatch, leak):
    from telemetry import selectors

    scoped = selectors.site_status_list

    def leaky(user, **options):
        sites = scoped(user, **options)
        for s in sites:
            if leak == "counts":  # every miner of the site, not only the caller's
                s["miners"]["offline"] += (
                    Miner.objects.filter(site__code=s["site_id"])
                    .exclude(pk__in=scoping.miners_for(user).values("pk"))
                    .count()
                )
            else:  # collectors shown to customers too
                s["collectors"] = s["collectors"] or []
        return sites

    monkeypatch.setattr(selectors, "site_status_list", leaky)
    code, lines = run("--only", "/api/collector/status")
    assert code == 1
    expected = "expected sites and miner counts" if leak == "counts" else "collector details shown to a customer"
    # the session and the personal token of customer A, and of A's group-limited customer, all see it
    assert [line.split()[3] for line in lines if line.startswith("FAIL GET")] == [
        "customer_a_own",
        "group_customer_a_own",
        "customer_a_own+token",
        "group_customer_a_own+token",
    ]
    assert expected in next(line for line in lines if line.startswith("FAIL GET"))
