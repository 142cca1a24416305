"""GET /api/v1/portal/my-reports keeps the last full month's SLA summary PORTAL_MY_REPORTS_CACHE_SEC
in the real Redis cache: shared by a tenant's whole-tenant customers, never by a customer limited
to miner groups (who sees fewer miners), rebuilt on every call with 0."""

import datetime as dt

import pytest
from django.utils import timezone

from audit.services import Actor
from conftest import grant
from hosting.models import DowntimeInterval
from portal.reports_v1 import my_reports_body
from tenants.models import MinerGroup, Role
from tenants.object_grants import object_grant_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def first_of_next_month(when: dt.datetime) -> dt.datetime:
    return (when.replace(day=28) + dt.timedelta(days=5)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def month():
    """A month after the miners were created (so they own all of it) as "the last full month"."""
    start = first_of_next_month(timezone.now())
    return start, first_of_next_month(start) + dt.timedelta(days=1)  # (its first day, a `now` in the month after)


def summary(rf, user, tenant, now) -> dict:
    request = rf.get("/api/v1/portal/my-reports")
    request.user = user
    return my_reports_body(request, tenant, now=now)["reports"][0]["summary"]


def outage(miner, start):
    return DowntimeInterval.objects.create(
        miner=miner,
        tenant=miner.tenant,
        site=miner.site,
        started_at=start + dt.timedelta(days=1),
        ended_at=start + dt.timedelta(days=1, minutes=30),
        cause="offline",
    )


def test_the_months_summary_is_kept_and_shared_by_the_tenants_customers(rf, world, customer_a, month, settings):
    start, now = month
    first = summary(rf, customer_a, world.tenant_a, now)
    assert (first["miners"], first["unplanned_minutes"]) == (3, 0)
    outage(world.miners_a_x[0], start)
    assert summary(rf, customer_a, world.tenant_a, now) == first  # kept
    colleague = grant(UserFactory(username="cust-a-2"), Role.CUSTOMER, tenant=world.tenant_a)
    assert summary(rf, colleague, world.tenant_a, now) == first  # the same miners: the same entry
    settings.PORTAL_MY_REPORTS_CACHE_SEC = 0
    assert summary(rf, customer_a, world.tenant_a, now)["unplanned_minutes"] == 30


def test_a_group_limited_customer_never_gets_the_tenants_summary(rf, world, customer_a, ops_manager_x, month):
    start, now = month
    group = MinerGroup.objects.create(site=world.site_x, name="row-7")
    group.miners.set([world.miners_a_x[0], world.miners_b_x[0]])
    limited = UserFactory(username="cust-a-row7")
    object_grant_create(
        actor=Actor.system("test"),
        granted_by=ops_manager_x,
        user=limited,
        role=Role.CUSTOMER,
        miner_group=group,
        tenant=world.tenant_a,
    )
    assert summary(rf, customer_a, world.tenant_a, now)["miners"] == 3
    assert summary(rf, limited, world.tenant_a, now)["miners"] == 1
    assert summary(rf, customer_a, world.tenant_a, now)["miners"] == 3
