"""Operator routes with a site id in the path or query take a site alias too (switch-over,
issue 15); scope is unchanged: another site's alias is 403 like its code."""

import pytest

from conftest import SETUP
from tenants.site_identity import site_alias_add


@pytest.fixture
def aliased(world):
    site_alias_add(actor=SETUP, site=world.site_x, value="17", kind="legacy_id")
    site_alias_add(actor=SETUP, site=world.site_y, value="18", kind="legacy_id")
    return world


@pytest.mark.parametrize("path", ["/api/collector/live/{}", "/api/collector/summary/{}", "/api/miners?site_id={}"])
def test_a_site_alias_in_the_path_or_query_reads_that_site(as_user, aliased, noc_x, path):
    client = as_user(noc_x)
    by_alias, by_code = client.get(path.format("17")), client.get(path.format("SITE-X"))
    assert by_alias.status_code == 200, by_alias.content
    assert by_alias.json() == by_code.json()


@pytest.mark.parametrize("path", ["/api/collector/live/{}", "/api/collector/summary/{}", "/api/miners?site_id={}"])
def test_another_sites_alias_is_403_like_its_code(as_user, aliased, noc_x, path):
    client = as_user(noc_x)
    for value in ("18", "SITE-Y", "no-such-alias"):
        response = client.get(path.format(value))
        assert response.status_code == 403 and response.json()["error_code"] == "FORBIDDEN"
