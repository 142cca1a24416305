"""Site aliases (switch-over, issue 15): the names a collector may call its site by, besides
Site.code, checked by one resolver; added and removed through audited services."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEvent
from conftest import SETUP
from core.errors import Conflict, InvalidParameter
from tenants.models import Site, SiteAlias
from tenants.services import inventory_save
from tenants.site_identity import site_alias_add, site_alias_remove, site_by_code_or_alias, site_matches

STATUS = "/api/collector/status"


def status(client, token, site):
    return client.get(STATUS, HTTP_X_COLLECTOR_KEY=token, HTTP_X_SITE_ID=site)


@pytest.fixture
def aliased(world):
    """SITE-X is called "17" by the original application and "site_001" by its collector's config."""
    site_alias_add(actor=SETUP, site=world.site_x, value="17", kind=SiteAlias.Kind.LEGACY_ID)
    site_alias_add(actor=SETUP, site=world.site_x, value="site_001", note="farm config")
    site_alias_add(actor=SETUP, site=world.site_y, value="site_002")
    return world


# --- the resolver ----------------------------------------------------------------------------------


def test_a_site_matches_its_code_and_its_aliases_only(aliased):
    x = Site.objects.get(code="SITE-X")
    assert [site_matches(x, v) for v in ("SITE-X", "17", "site_001")] == [True, True, True]
    assert [site_matches(x, v) for v in ("SITE-Y", "site_002", "SITE_001", "", "18")] == [False] * 5


def test_a_site_is_found_by_code_or_alias_within_the_scope_given(aliased):
    assert site_by_code_or_alias("site_001") == aliased.site_x
    assert site_by_code_or_alias("SITE-Y") == aliased.site_y
    assert site_by_code_or_alias("nope") is None
    assert site_by_code_or_alias("17", Site.objects.filter(code="SITE-Y")) is None


# --- the services ----------------------------------------------------------------------------------


def test_adding_and_removing_an_alias_is_audited_on_the_sites_chain(world):
    alias = site_alias_add(actor=SETUP, site=world.site_x, value="42", kind=SiteAlias.Kind.LEGACY_ID, note="old id")
    added = AuditEvent.objects.get(action="tenants.site_alias.added")
    assert added.site_code == "SITE-X" and added.payload["value"] == "42" and added.payload["kind"] == "legacy_id"

    site_alias_remove(actor=SETUP, alias=alias)
    removed = AuditEvent.objects.get(action="tenants.site_alias.removed")
    assert removed.site_code == "SITE-X" and removed.payload["value"] == "42"
    assert not SiteAlias.objects.exists()


def test_re_adding_an_alias_the_site_has_changes_nothing(aliased):
    before = AuditEvent.objects.filter(action="tenants.site_alias.added").count()
    again = site_alias_add(actor=SETUP, site=aliased.site_x, value="17")
    assert again.kind == SiteAlias.Kind.LEGACY_ID
    assert AuditEvent.objects.filter(action="tenants.site_alias.added").count() == before


@pytest.mark.parametrize("value", ["SITE-Y", "site_002", "SITE-X"], ids=["other-code", "other-alias", "own-code"])
def test_an_alias_that_names_a_site_already_is_refused_site_alias_taken(aliased, value):
    with pytest.raises(Conflict) as exc:
        site_alias_add(actor=SETUP, site=aliased.site_x, value=value)
    assert exc.value.error_code == "SITE_ALIAS_TAKEN"
    assert not SiteAlias.objects.filter(site=aliased.site_x, value=value).exists()


def test_aliases_are_case_sensitive_as_the_collector_sends_them(aliased):
    site_alias_add(actor=SETUP, site=aliased.site_y, value="SITE_001")
    assert site_by_code_or_alias("SITE_001") == aliased.site_y and site_by_code_or_alias("site_001") == aliased.site_x


def test_a_new_site_cannot_take_an_alias_as_its_code(aliased):
    with pytest.raises(Conflict) as exc:
        inventory_save(actor=SETUP, obj=Site(code="site_001", name="Clash"))
    assert exc.value.error_code == "SITE_ALIAS_TAKEN"
    assert not Site.objects.filter(code="site_001").exists()


@pytest.mark.parametrize("value", ["", "   ", "x" * 65])
def test_an_empty_or_overlong_alias_is_invalid(world, value):
    with pytest.raises(InvalidParameter) as exc:
        site_alias_add(actor=SETUP, site=world.site_x, value=value)
    assert exc.value.extra["field"] == "value"


# --- on the wire: X-Site-ID ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["SITE-X", "17", "site_001"])
def test_x_site_id_may_be_the_code_or_an_alias(client, aliased, value):
    response = status(client, aliased.token_x, value)
    assert response.status_code == 200, response.content
    assert response.json()["site_id"] == "SITE-X"


@pytest.mark.parametrize("value", ["site_002", "SITE-Y", "unknown-site", "SITE_001"])
def test_another_sites_name_or_an_unknown_value_is_403_site_mismatch(client, aliased, value):
    response = status(client, aliased.token_x, value)
    assert response.status_code == 403
    assert response.json()["error_code"] == "SITE_MISMATCH"


def test_a_removed_alias_is_refused_again(client, aliased):
    site_alias_remove(actor=SETUP, alias=SiteAlias.objects.get(value="site_001"))
    assert status(client, aliased.token_x, "site_001").status_code == 403


def test_checking_an_alias_costs_no_query_beyond_the_token_lookup(client, aliased):
    status(client, aliased.token_x, "SITE-X")  # last_used_at and the device are written once
    with CaptureQueriesContext(connection) as by_code:
        assert status(client, aliased.token_x, "SITE-X").status_code == 200
    with CaptureQueriesContext(connection) as by_alias:
        assert status(client, aliased.token_x, "site_001").status_code == 200
    assert len(by_alias) == len(by_code)


# --- the NOC console -------------------------------------------------------------------------------


def _site_form(site, aliases: list[dict], existing: list[SiteAlias] = (), delete: set[int] = frozenset()):
    data = {
        "code": site.code,
        "name": site.name,
        "timezone": site.timezone,
        "zones-TOTAL_FORMS": "0",
        "zones-INITIAL_FORMS": "0",
        "aliases-TOTAL_FORMS": str(len(existing) + len(aliases)),
        "aliases-INITIAL_FORMS": str(len(existing)),
    }
    for i, alias in enumerate(existing):
        data |= {f"aliases-{i}-id": str(alias.pk), f"aliases-{i}-site": str(site.pk)}
        if alias.pk in delete:
            data[f"aliases-{i}-DELETE"] = "on"
    for j, row in enumerate(aliases, start=len(existing)):
        data |= {f"aliases-{j}-{k}": v for k, v in row.items()} | {f"aliases-{j}-site": str(site.pk)}
    return data


def test_an_ops_manager_adds_and_removes_aliases_on_the_site_page_audited(as_user, world, ops_manager_x):
    client = as_user(ops_manager_x)
    url = reverse("admin:tenants_site_change", args=[world.site_x.pk])
    rows = [{"value": "17", "kind": "legacy_id", "note": "original id"}]
    response = client.post(url, _site_form(world.site_x, rows))
    assert response.status_code == 302, response.content.decode()[:2000]
    alias = SiteAlias.objects.get(site=world.site_x)
    assert (alias.value, alias.kind, alias.created_by) == ("17", "legacy_id", ops_manager_x)
    event = AuditEvent.objects.get(action="tenants.site_alias.added")
    assert (event.site_code, event.actor_type, event.actor_id) == ("SITE-X", "user", str(ops_manager_x.pk))

    response = client.post(url, _site_form(world.site_x, [], existing=[alias], delete={alias.pk}))
    assert response.status_code == 302
    assert not SiteAlias.objects.exists()
    assert AuditEvent.objects.filter(action="tenants.site_alias.removed", site_code="SITE-X").count() == 1


def test_the_site_page_refuses_a_taken_alias_on_the_row(as_user, aliased, ops_manager_x):
    url = reverse("admin:tenants_site_change", args=[aliased.site_x.pk])
    existing = list(SiteAlias.objects.filter(site=aliased.site_x).order_by("value"))
    response = as_user(ops_manager_x).post(url, _site_form(aliased.site_x, [{"value": "site_002"}], existing=existing))
    assert response.status_code == 200
    assert "SITE_ALIAS_TAKEN" in response.content.decode()
    assert SiteAlias.objects.get(value="site_002").site == aliased.site_y


def test_a_noc_sees_its_sites_aliases_and_not_another_sites(as_user, aliased, noc_x):
    response = as_user(noc_x).get(reverse("admin:tenants_sitealias_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "site_001" in page and "site_002" not in page
