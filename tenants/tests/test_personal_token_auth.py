"""`Authorization: Bearer hip_…` on the operator and customer APIs: a token is its owner, scoped as
the owner is at that moment — per role, the same answers as the owner's session, 403 outside the
scope; 401 when revoked, expired or unknown; read-only tokens write nothing; collector and personal
tokens never stand in for each other."""

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor
from tenants.models import PersonalToken, Role, RoleGrant
from tenants.personal_tokens import personal_token_create, personal_token_revoke
from tenants.services import role_grant_revoke
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/tokens"


def mint(user, **kw):
    kw.setdefault("name", "script")
    kw.setdefault("expires_in_days", 30)
    return personal_token_create(actor=Actor.user(user), user=user, **kw)


def bearer(plaintext: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


@pytest.fixture
def technician_x(world):
    from conftest import grant

    return grant(UserFactory(username="tech-x"), Role.TECHNICIAN, site=world.site_x)


ROLES = ["owner", "ops_manager_x", "noc_x", "technician_x", "customer_a"]
# Representative reads: the legacy and v1 shapes, operator and customer, lists and one site.
READS = ["/api/sites", "/api/miners", "/api/v1/telemetry/live?site_id=SITE-X", "/api/collector/status"]


@pytest.mark.parametrize("role", ROLES)
def test_a_token_sees_exactly_what_its_owners_session_sees(request, role):
    user = request.getfixturevalue(role)
    _, plaintext = mint(user)
    token_client, session_client = Client(), Client()
    session_client.force_login(user)
    for path in READS:
        token_client.get(path, **bearer(plaintext))  # the first use audits its IP: done before comparing
        by_session = session_client.get(path)
        by_token = token_client.get(path, **bearer(plaintext))
        assert by_token.status_code == by_session.status_code == 200, (path, by_token.content)
        assert by_token.json() == by_session.json(), path


@pytest.mark.parametrize("role", ["ops_manager_x", "noc_x", "technician_x", "customer_a"])
def test_a_token_of_site_x_or_tenant_a_gets_403_on_site_y(request, role, world):
    _, plaintext = mint(request.getfixturevalue(role))
    for path in ["/api/collector/live/SITE-Y", "/api/v1/telemetry/live?site_id=SITE-Y"]:
        response = Client().get(path, **bearer(plaintext))
        assert (response.status_code, response.json()["error_code"]) == (403, "FORBIDDEN"), path


def test_a_customers_token_gets_403_on_another_tenant(customer_a, world):
    _, plaintext = mint(customer_a)
    client = Client()
    own = client.get("/api/client/miners?tenant=tenant-a", **bearer(plaintext))
    assert own.status_code == 200 and world.miners_b_x[0].miner_id not in own.content.decode()
    other = client.get("/api/client/miners?tenant=tenant-b", **bearer(plaintext))
    assert (other.status_code, other.json()["error_code"]) == (403, "FORBIDDEN")


def test_an_owners_token_reaches_site_y(owner):
    _, plaintext = mint(owner)
    assert Client().get("/api/collector/live/SITE-Y", **bearer(plaintext)).status_code == 200


def test_a_customers_token_acts_on_nothing(customer_a, world):
    _, plaintext = mint(customer_a)
    body = {"site_id": "SITE-X", "miner_id": world.miners_a_x[0].miner_id, "command_type": "restart", "reason": "x"}
    response = Client().post("/api/admin/v1/commands", body, content_type="application/json", **bearer(plaintext))
    assert (response.status_code, response.json()["error_code"]) == (403, "FORBIDDEN")


def test_a_removed_grant_stops_the_token_at_once(noc_x):
    _, plaintext = mint(noc_x)
    client = Client()
    assert client.get("/api/collector/live/SITE-X", **bearer(plaintext)).status_code == 200
    role_grant_revoke(actor=Actor.system("test"), grant=RoleGrant.objects.get(user=noc_x))
    response = client.get("/api/collector/live/SITE-X", **bearer(plaintext))
    assert (response.status_code, response.json()["error_code"]) == (403, "FORBIDDEN")


def test_a_deactivated_owner_gets_401(noc_x):
    _, plaintext = mint(noc_x)
    noc_x.is_active = False
    noc_x.save(update_fields=["is_active"])
    response = Client().get("/api/sites", **bearer(plaintext))
    assert (response.status_code, response.json()["error_code"]) == (401, "USER_INACTIVE")


def _refused(response, code):
    assert (response.status_code, response.json()["error_code"]) == (401, code)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_gets_401_token_revoked(noc_x):
    token, plaintext = mint(noc_x)
    personal_token_revoke(actor=Actor.user(noc_x), token=token)
    _refused(Client().get("/api/sites", **bearer(plaintext)), "TOKEN_REVOKED")


def test_an_expired_token_gets_401_token_expired(noc_x):
    _, plaintext = mint(noc_x, expires_in_days=1)
    with time_machine.travel(timezone.now() + dt.timedelta(days=2)):
        _refused(Client().get("/api/sites", **bearer(plaintext)), "TOKEN_EXPIRED")


def test_an_unknown_token_gets_401_token_invalid(noc_x):
    _, plaintext = mint(noc_x)
    _refused(Client().get("/api/sites", **bearer(plaintext[:-2] + "zz")), "TOKEN_INVALID")


def test_a_bad_token_beside_a_valid_session_is_still_refused(as_user, noc_x):
    _refused(as_user(noc_x).get("/api/sites", **bearer("hip_forged-value-0000")), "TOKEN_INVALID")


def test_a_read_only_token_reads_but_cannot_post(noc_x, world):
    _, plaintext = mint(noc_x, read_only=True)
    client = Client()
    assert client.get("/api/sites", **bearer(plaintext)).status_code == 200
    body = {"site_id": "SITE-X", "miner_id": world.miners_a_x[0].miner_id, "command_type": "restart", "reason": "x"}
    for path, data in [("/api/admin/v1/commands", body), (ME, {"name": "more", "expires_in_days": 5})]:
        response = client.post(path, data, content_type="application/json", **bearer(plaintext))
        assert (response.status_code, response.json()["error_code"]) == (403, "TOKEN_READ_ONLY"), path
    assert PersonalToken.objects.count() == 1


def test_a_token_needs_no_csrf_token(noc_x):
    _, plaintext = mint(noc_x)
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        ME, {"name": "ci", "expires_in_days": 5}, content_type="application/json", **bearer(plaintext)
    )
    assert response.status_code == 201, response.content


def test_a_session_post_still_needs_csrf(noc_x):
    client = Client(enforce_csrf_checks=True)
    client.force_login(noc_x)
    response = client.post(ME, {"name": "ci", "expires_in_days": 5}, content_type="application/json")
    assert response.status_code == 403


# --- the two kinds of token never stand in for each other -----------------------------------------------


@pytest.mark.parametrize(
    "method,path",
    [
        ("post", "/api/collector/upload"),
        ("get", "/api/edge/v1/commands/poll"),
        ("get", "/api/collector/commands/pending"),
        ("post", "/api/collector/commands/ack"),
    ],
)
def test_a_personal_token_opens_no_collector_route(owner, method, path):
    _, plaintext = mint(owner)
    for headers in (bearer(plaintext), {"HTTP_X_COLLECTOR_KEY": plaintext}):
        response = getattr(Client(), method)(path, HTTP_X_SITE_ID="SITE-X", **headers)
        assert response.status_code == 401, (path, response.content)


def test_a_personal_token_on_the_status_route_is_a_person_not_a_collector(noc_x):
    _, plaintext = mint(noc_x)
    body = Client().get("/api/collector/status", **bearer(plaintext)).json()
    assert [s["site_id"] for s in body["sites"]] == ["SITE-X"] and "token_prefix" not in body


@pytest.mark.parametrize("path", ["/api/sites", "/api/admin/v1/audit", ME, "/api/client/miners"])
def test_a_collector_token_opens_no_operator_or_customer_route(world, path):
    response = Client().get(path, HTTP_X_SITE_ID="SITE-X", **bearer(world.token_x))
    assert (response.status_code, response.json()["error_code"]) == (401, "UNAUTHENTICATED")


# --- audit and last use over HTTP ------------------------------------------------------------------------


def test_use_from_a_new_address_is_an_audit_event(noc_x):
    token, plaintext = mint(noc_x)
    client = Client()
    client.get("/api/sites", REMOTE_ADDR="192.0.2.10", **bearer(plaintext))
    client.get("/api/sites", REMOTE_ADDR="192.0.2.10", **bearer(plaintext))
    client.get("/api/sites", REMOTE_ADDR="192.0.2.20", **bearer(plaintext))
    ips = list(
        AuditEvent.objects.filter(action="tenants.token.new_ip", entity_id=str(token.pk))
        .order_by("seq")
        .values_list("payload__ip", flat=True)
    )
    assert ips == ["192.0.2.10", "192.0.2.20"]
    token.refresh_from_db()
    assert token.last_used_ip == "192.0.2.20" and token.last_used_at is not None
