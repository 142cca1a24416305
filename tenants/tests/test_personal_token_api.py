"""/api/v1/me/tokens and the /accounts/tokens/ page: my tokens only, the plaintext in the create
answer only, revocation of my own tokens only (403 for another person's, as for a missing id)."""

import pytest
from django.test import Client

from audit.services import Actor
from tenants.models import PersonalToken
from tenants.personal_tokens import personal_token_create

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/tokens"
PAGE = "/accounts/tokens/"


def mint(user, **kw):
    kw.setdefault("name", "script")
    kw.setdefault("expires_in_days", 30)
    return personal_token_create(actor=Actor.user(user), user=user, **kw)


def bearer(plaintext: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def test_anonymous_callers_get_401(db):
    assert Client().get(ME).status_code == 401
    assert Client().post(ME, {}, content_type="application/json").status_code == 401
    assert Client().delete(f"{ME}/1").status_code == 401


def test_create_shows_the_plaintext_once_and_the_list_never(as_user, customer_a):
    client = as_user(customer_a)
    created = client.post(
        ME, {"name": "export", "expires_in_days": 10, "read_only": True}, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["token"].startswith(body["prefix"]) and body["read_only"] is True
    listed = client.get(ME)
    assert [row["prefix"] for row in listed.json()["results"]] == [body["prefix"]]
    assert body["token"] not in listed.content.decode()
    assert client.get(ME, **bearer(body["token"])).json()["results"][0]["id"] == body["id"]


@pytest.mark.parametrize(
    "data,field",
    [
        ({"name": "x"}, "expires_in_days"),
        ({"name": "x", "expires_in_days": 91}, "expires_in_days"),
        ({"expires_in_days": 5}, "name"),
    ],
)
def test_bad_input_is_400_naming_the_field(as_user, customer_a, data, field):
    response = as_user(customer_a).post(ME, data, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] in ("INVALID_PARAMETER", "INVALID_EXPIRY")
    assert field in body.get("fields", {}) or body.get("field") == field
    assert not PersonalToken.objects.exists()


def test_a_token_created_with_a_token_expires_no_later(customer_a):
    parent, plaintext = mint(customer_a, expires_in_days=3)
    response = Client().post(
        ME, {"name": "child", "expires_in_days": 90}, content_type="application/json", **bearer(plaintext)
    )
    assert response.status_code == 201
    assert PersonalToken.objects.get(pk=response.json()["id"]).expires_at == parent.expires_at


def test_i_list_only_my_own_tokens(as_user, customer_a, customer_b, noc_x):
    mine, _ = mint(customer_a)
    mint(customer_b, name="b's secret script")
    mint(noc_x)
    response = as_user(customer_a).get(ME)
    assert [row["id"] for row in response.json()["results"]] == [mine.pk]
    assert "b's secret script" not in response.content.decode()


def test_i_revoke_my_token_and_it_stops_working(customer_a):
    token, plaintext = mint(customer_a)
    other, other_plain = mint(customer_a, name="other")
    response = Client().delete(f"{ME}/{token.pk}", **bearer(other_plain))
    assert response.status_code == 200 and response.json()["revoked_at"]
    assert Client().get(ME, **bearer(plaintext)).json()["error_code"] == "TOKEN_REVOKED"
    # a token may revoke itself: the answer is given, then it is dead
    assert Client().delete(f"{ME}/{other.pk}", **bearer(other_plain)).status_code == 200
    assert Client().get(ME, **bearer(other_plain)).status_code == 401


def test_another_persons_token_is_403_like_a_missing_id(as_user, customer_a, customer_b, owner):
    theirs, _ = mint(customer_b)
    for user in (customer_a, owner):
        client = as_user(user)
        denied, missing = client.delete(f"{ME}/{theirs.pk}"), client.delete(f"{ME}/2147480001")
        assert (denied.status_code, denied.json()["error_code"]) == (403, "FORBIDDEN")
        assert denied.json() == missing.json()
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_the_list_costs_a_fixed_number_of_queries(as_user, customer_a, django_assert_num_queries):
    for i in range(5):
        mint(customer_a, name=f"t{i}")
    client = as_user(customer_a)
    client.get(ME)
    with django_assert_num_queries(3):  # session, user, the page
        client.get(ME)


# --- the page ----------------------------------------------------------------------------------------


def test_the_page_needs_a_sign_in(db):
    response = Client().get(PAGE)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_page_creates_a_token_and_shows_it_once(as_user, noc_x):
    client = as_user(noc_x)
    posted = client.post(PAGE, {"name": "grafana", "expires_in_days": 14, "read_only": "on"})
    assert (posted.status_code, posted["Location"]) == (302, PAGE)  # a reload cannot mint a second one
    token = PersonalToken.objects.get(user=noc_x)
    response = client.get(PAGE)
    html = response.content.decode()
    assert 'id="token-plaintext"' in html and f"Bearer {token.prefix}" in html and token.read_only
    assert "no-store" in response["Cache-Control"]
    again = client.get(PAGE).content.decode()
    assert token.prefix in again and 'id="token-plaintext"' not in again


def test_the_page_refuses_an_expiry_beyond_the_maximum(as_user, noc_x):
    response = as_user(noc_x).post(PAGE, {"name": "long", "expires_in_days": 365})
    assert response.status_code == 200 and "at most 90" in response.content.decode().lower()
    assert not PersonalToken.objects.exists()


def test_the_page_revokes_my_token_but_not_anothers(as_user, noc_x, noc_y):
    mine, _ = mint(noc_x)
    theirs, _ = mint(noc_y, name="noc-y script")
    client = as_user(noc_x)
    assert client.post(f"/accounts/tokens/{mine.pk}/revoke/").status_code == 302
    denied = client.post(f"/accounts/tokens/{theirs.pk}/revoke/")
    assert denied.status_code == 403 and "noc-y script" not in denied.content.decode()
    mine.refresh_from_db(), theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None
    assert "noc-y script" not in client.get(PAGE).content.decode()
