import pytest

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_operators_land_on_the_noc_console(client, noc_x):
    client.force_login(noc_x)
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == "/admin/"


def test_a_customer_is_sent_to_their_own_portal(client, world, customer_a):
    client.force_login(customer_a)
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == f"/portal/t/{world.tenant_a.slug}/"
    body = response.content.decode()
    assert 'id="total-miners">3<' in body  # tenant A has 3 miners at site X; tenant B's 4 are not counted
    assert "SITE-X" in body
    assert "SITE-Y" not in body  # tenant B's other site
    assert world.tenant_b.name not in body


def test_another_tenants_portal_answers_403(client, world, customer_a):
    client.force_login(customer_a)
    assert client.get(f"/portal/t/{world.tenant_b.slug}/").status_code == 403
