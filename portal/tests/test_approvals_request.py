"""The Approvals page's "Request an action" form: its miner picker (…/approvals/miners/) offers the
customer's own miners only, as scoping gives them (a group-limited customer: their groups' only),
searched on the server in a fixed number of queries; the type select offers only the types the
consent policy lets customers propose, and where the form would always fail the page says why."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.services import Actor
from control.models import Command, ConsentPolicy
from tenants.models import MinerGroup, Role
from tenants.object_grants import object_grant_create
from tests.factories import MinerFactory, UserFactory

pytestmark = pytest.mark.django_db
SETUP = Actor.system("test")


def picker(client, tenant, **query):
    return client.get(f"/portal/t/{tenant.slug}/approvals/miners/", query)


def page(client, tenant):
    return client.get(f"/portal/t/{tenant.slug}/approvals/")


@pytest.fixture
def policy_a(world):
    return ConsentPolicy.objects.create(tenant=world.tenant_a, customer_types=["reboot", "set_fan"])


@pytest.fixture
def group_customer(world, ops_manager_x):
    """Limited to a group of two of tenant A's miners at X and one of tenant B's."""
    group = MinerGroup.objects.create(site=world.site_x, name="row-7")
    group.miners.set([*world.miners_a_x[:2], world.miners_b_x[0]])
    user = UserFactory(username="cust-a-row7")
    object_grant_create(
        actor=SETUP, granted_by=ops_manager_x, user=user, role=Role.CUSTOMER, miner_group=group, tenant=world.tenant_a
    )
    return user


def test_the_picker_lists_only_the_customers_own_miners_searched_on_the_server(as_user, world, customer_a):
    client = as_user(customer_a)
    body = picker(client, world.tenant_a, site="SITE-X", q="S21_").json()  # every miner id here matches
    assert [m["miner_id"] for m in body["miners"]] == sorted(m.miner_id for m in world.miners_a_x)
    assert {m["site"] for m in body["miners"]} == {"SITE-X"} and body["more"] is False
    assert set(body["miners"][0]) == {"site", "miner_id", "model", "zone"}
    # tenant B's miner at the same site, asked by its exact id: nothing
    assert picker(client, world.tenant_a, site="SITE-X", q=world.miners_b_x[0].miner_id).json()["miners"] == []
    assert picker(client, world.tenant_a, site="SITE-Y").json()["miners"] == []  # A has none at Y
    one = world.miners_a_x[1].miner_id
    assert [m["miner_id"] for m in picker(client, world.tenant_a, q=one).json()["miners"]] == [one]


def test_the_picker_shows_the_first_matches_of_a_big_fleet_in_a_fixed_number_of_queries(
    as_user, world, customer_a, django_assert_num_queries
):
    client = as_user(customer_a)
    picker(client, world.tenant_a)  # session, scope: warm
    with CaptureQueriesContext(connection) as few:
        picker(client, world.tenant_a)
    MinerFactory.create_batch(60, site=world.site_x, zone=world.zone_x1, tenant=world.tenant_a)
    with django_assert_num_queries(len(few)):
        body = picker(client, world.tenant_a, site="SITE-X").json()
    assert len(body["miners"]) == 20 and body["more"] is True
    ids = [m["miner_id"] for m in body["miners"]]
    assert ids == sorted(ids)


def test_a_group_limited_customer_is_offered_their_groups_miners_and_no_form(as_user, world, policy_a, group_customer):
    client = as_user(group_customer)
    body = picker(client, world.tenant_a, q="S21_").json()
    assert [m["miner_id"] for m in body["miners"]] == sorted(m.miner_id for m in world.miners_a_x[:2])
    response = page(client, world.tenant_a)
    html = response.content.decode()
    assert 'id="request-form"' not in html and "some miner groups only" in html
    # forced anyway: refused, nothing created
    client.post(
        f"/portal/t/{world.tenant_a.slug}/approvals/",
        {
            "action": "request",
            "site": "SITE-X",
            "miner_id": world.miners_a_x[0].miner_id,
            "command_type": "reboot",
            "reason": "x",
        },
    )
    assert not Command.objects.exists()


def test_another_tenants_picker_is_the_403_page(as_user, world, customer_a):
    response = picker(as_user(customer_a), world.tenant_b, q="S21_")
    assert response.status_code == 403
    assert all(m.miner_id not in response.content.decode() for m in world.miners_b_x)


def test_an_operator_looking_in_gets_the_tenants_miners_at_their_sites_only(as_user, world, noc_y):
    body = picker(as_user(noc_y), world.tenant_b, q="S21_").json()
    assert [m["miner_id"] for m in body["miners"]] == sorted(m.miner_id for m in world.miners_b_y)


def test_the_form_offers_only_the_policys_customer_types_with_the_picker(as_user, world, policy_a, customer_a):
    html = page(as_user(customer_a), world.tenant_a).content.decode()
    form = html[html.index('id="request-form"') : html.index("</form>", html.index('id="request-form"'))]
    assert '<option value="reboot">Reboot</option>' in form and '<option value="set_fan">Set fan</option>' in form
    assert "disable_hashing" not in form and "power_off" not in form
    assert 'list="miner-options"' in form and f"/portal/t/{world.tenant_a.slug}/approvals/miners/" in form
    assert "portal/picker.js" in html


def test_without_an_allowed_type_or_a_miner_the_page_says_so_instead_of_a_form(as_user, world, customer_a):
    client = as_user(customer_a)
    html = page(client, world.tenant_a).content.decode()  # no policy at all
    assert 'id="request-form"' not in html and "does not let you request actions" in html
    ConsentPolicy.objects.create(tenant=world.tenant_a, customer_types=[])
    html = page(client, world.tenant_a).content.decode()
    assert 'id="request-form"' not in html and "does not let you request actions" in html
    assert "portal/picker.js" not in html

    from tenants.models import Miner

    ConsentPolicy.objects.filter(tenant=world.tenant_a).update(customer_types=["reboot"])
    Miner.objects.filter(tenant=world.tenant_a).update(tenant=world.tenant_b)
    html = page(client, world.tenant_a).content.decode()
    assert 'id="request-form"' not in html and "no miners to request an action on" in html
