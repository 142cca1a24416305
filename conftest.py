"""Personas shared by every app's tests (STYLE.md): two customer tenants on two sites,
operators scoped to one site, a collector of site X with a token."""

from dataclasses import dataclass

import pytest
from django.core.cache import cache

from audit.services import Actor
from hashinsight.tests.session_state import guard_web_requests
from tenants.collector_auth_cache import collector_auth_cache_clear
from tenants.models import Role, Tenant
from tenants.services import collector_token_create, role_grant_create
from tests.factories import CollectorFactory, MinerFactory, SiteFactory, TenantFactory, UserFactory, ZoneFactory

# The ingest fixtures (clock, edge, a fresh partition cache per test) for every app's tests.
pytest_plugins = ["telemetry.tests.ingest_fixtures"]

PASSWORD = "pw-Secret-123"
SETUP = Actor.system("test.setup")


@pytest.fixture(autouse=True)
def _clean_cache():
    # Tests share one Redis (prefix hi-test): throttles and locks must not leak between tests.
    cache.clear()
    # Nor may one test's resolved collector tokens (their rows are gone with its transaction).
    collector_auth_cache_clear()
    yield


@pytest.fixture(autouse=True)
def _no_session_state_on_web_path():
    # Every request a test makes runs as behind PgBouncer's transaction pool must: nothing that
    # outlives its transaction on the server connection (hashinsight/tests/session_state.py).
    with guard_web_requests() as seen:
        yield
    assert not seen, f"session-level state on web's path: {seen}"


@dataclass
class World:
    operator_tenant: Tenant
    tenant_a: Tenant
    tenant_b: Tenant
    site_x: object
    site_y: object
    zone_x1: object
    miners_a_x: list
    miners_b_x: list
    miners_b_y: list
    collector_x: object
    collector_y: object
    token_x: str
    token_y: str


def grant(user, role, **scope):
    role_grant_create(actor=SETUP, user=user, role=role, **scope)
    return user


@pytest.fixture
def as_user(client):
    """`as_user(user)`: the test client, logged in as `user`."""

    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def world(db) -> World:
    operator = TenantFactory(slug="operator", name="Operator", is_operator=True)
    tenant_a, tenant_b = TenantFactory(slug="tenant-a"), TenantFactory(slug="tenant-b")
    site_x, site_y = SiteFactory(code="SITE-X"), SiteFactory(code="SITE-Y")
    zone_x1 = ZoneFactory(site=site_x, code="X1")
    collector_x = CollectorFactory(site=site_x, name="edge-x")
    collector_y = CollectorFactory(site=site_y, name="edge-y")
    _, token_x = collector_token_create(actor=SETUP, collector=collector_x)
    _, token_y = collector_token_create(actor=SETUP, collector=collector_y)
    return World(
        operator_tenant=operator,
        tenant_a=tenant_a,
        tenant_b=tenant_b,
        site_x=site_x,
        site_y=site_y,
        zone_x1=zone_x1,
        miners_a_x=[MinerFactory(site=site_x, zone=zone_x1, tenant=tenant_a) for _ in range(3)],
        miners_b_x=[MinerFactory(site=site_x, tenant=tenant_b) for _ in range(2)],
        miners_b_y=[MinerFactory(site=site_y, tenant=tenant_b) for _ in range(2)],
        collector_x=collector_x,
        collector_y=collector_y,
        token_x=token_x,
        token_y=token_y,
    )


@pytest.fixture
def customer_a(world):
    return grant(UserFactory(username="cust-a"), Role.CUSTOMER, tenant=world.tenant_a)


@pytest.fixture
def customer_b(world):
    return grant(UserFactory(username="cust-b"), Role.CUSTOMER, tenant=world.tenant_b)


@pytest.fixture
def noc_x(world):
    return grant(UserFactory(username="noc-x"), Role.NOC, site=world.site_x)


@pytest.fixture
def noc_y(world):
    return grant(UserFactory(username="noc-y"), Role.NOC, site=world.site_y)


@pytest.fixture
def ops_manager_x(world):
    return grant(UserFactory(username="opsmgr-x"), Role.OPS_MANAGER, site=world.site_x)


@pytest.fixture
def owner(world):
    return grant(UserFactory(username="owner"), Role.OWNER, all_sites=True)


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)
