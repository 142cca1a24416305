"""The Downtime page, the dashboard's availability card and the miner page's intervals: exact
figures, one tenant's intervals only (owner at the time), 403 for anyone else's portal."""

import datetime as dt
import re

import pytest
import time_machine

from audit.services import Actor
from hosting.models import DowntimeInterval, MaintenanceWindow
from tenants.models import MinerOwnership
from tenants.services import miner_assign_owner
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
NOV = 30 * 24 * 60  # minutes of November


def at(day, hour=0, minute=0, month=11):
    return dt.datetime(2026, month, day, hour, minute, tzinfo=dt.UTC)


def url(tenant, query=""):
    return f"/portal/t/{tenant.slug}/downtime/{query}"


def down(miner, start, minutes, cause="offline", tenant=None, **extra):
    return DowntimeInterval.objects.create(
        miner=miner,
        tenant=tenant or miner.tenant,
        site=miner.site,
        started_at=start,
        ended_at=start + dt.timedelta(minutes=minutes),
        cause=cause,
        evidence={"minutes": minutes},
        **extra,
    )


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def fleet(world):
    MinerOwnership.objects.update(valid_from=at(1, month=10))
    a0, a1, a2 = world.miners_a_x
    window = MaintenanceWindow.objects.create(
        site=world.site_x, miner=a1, owner=UserFactory(), reason="fan swap", starts_at=at(4, 2), ends_at=at(4, 3)
    )
    down(a0, at(3, 10), 120)
    down(a1, at(4, 2), 60, "maintenance", maintenance=window)
    down(a2, at(5, 0), 30, "unmeasured")
    down(a2, at(6, 8), 20, "zero_hashrate")
    down(world.miners_b_x[0], at(7, 9), 500)  # tenant B, same site
    down(world.miners_b_y[0], at(8, 9), 45)  # tenant B, site Y
    return world


def test_the_figures_of_a_month_are_explained_and_exact(as_user, fleet, customer_a):
    response = as_user(customer_a).get(url(fleet.tenant_a, "?month=2026-11"))
    assert response.status_code == 200
    totals = response.context["totals"]
    period = 3 * NOV
    assert totals["period_minutes"] == period
    assert totals["unmeasured_minutes"] == 30
    assert totals["measured_minutes"] == period - 30
    assert totals["planned_minutes"] == 60
    assert totals["unplanned_minutes"] == 140  # offline 120 + zero hashrate 20
    expected = round(100 * (period - 30 - 140) / (period - 30), 3)
    assert totals["availability_pct"] == expected == 99.892
    body = response.content.decode()
    assert re.search(r'id="availability">99\.89 %<', body)
    (site,) = response.context["sites"]
    assert site["code"] == "SITE-X" and site["by_cause"]["offline"] == 120 and site["by_cause"]["maintenance"] == 60
    causes = sorted(r["interval"].cause for r in response.context["rows"])
    assert causes == ["maintenance", "offline", "unmeasured", "zero_hashrate"]
    assert "fan swap" in body  # the window behind the maintenance interval
    lanes = response.context["lanes"]
    assert [lane["miner"] for lane in lanes] == [fleet.miners_a_x[0].miner_id, *sorted(
        [fleet.miners_a_x[1].miner_id, fleet.miners_a_x[2].miner_id]
    )]  # fmt: skip
    bar = lanes[0]["bars"][0]
    assert bar["cause"] == "offline" and bar["x"] == round(100 * (2 * 1440 + 600) / NOV, 3)


def test_only_the_tenants_own_intervals_are_shown(as_user, fleet, customer_a, noc_x):
    body = as_user(customer_a).get(url(fleet.tenant_a, "?month=2026-11")).content.decode()
    for m in (*fleet.miners_b_x, *fleet.miners_b_y):
        assert m.miner_id not in body
    # an operator of site X looking at tenant B sees B's intervals at X, not at Y
    response = as_user(noc_x).get(url(fleet.tenant_b, "?month=2026-11"))
    assert response.status_code == 200
    shown = {r["interval"].miner_id for r in response.context["rows"]}
    assert shown == {fleet.miners_b_x[0].pk}
    assert response.context["totals"]["unplanned_minutes"] == 500
    assert 'id="operator-banner"' in response.content.decode()


def test_another_tenants_downtime_page_is_403(as_user, fleet, customer_a, noc_y):
    client = as_user(customer_a)
    assert client.get(url(fleet.tenant_b)).status_code == 403
    assert client.get("/portal/t/no-such-tenant/downtime/").status_code == 403
    assert as_user(noc_y).get(url(fleet.tenant_a)).status_code == 403  # tenant A has no miner at Y
    client.logout()
    assert client.get(url(fleet.tenant_a)).status_code == 302


def test_a_moved_miner_keeps_its_past_on_the_old_owners_page(as_user, fleet, customer_a, customer_b):
    a0 = fleet.miners_a_x[0]
    miner_assign_owner(actor=Actor.system("test"), miners=[a0], tenant=fleet.tenant_b, at=at(20))
    a0.refresh_from_db()
    down(a0, at(25, 10), 60)  # now tenant B's
    old = as_user(customer_a).get(url(fleet.tenant_a, "?month=2026-11"))
    rows = [r["interval"] for r in old.context["rows"] if r["interval"].miner_id == a0.pk]
    assert [(i.started_at, i.tenant_id) for i in rows] == [(at(3, 10), fleet.tenant_a.pk)]
    # A owned it 19 days of November
    assert old.context["totals"]["period_minutes"] == 2 * NOV + 19 * 1440
    assert old.context["totals"]["unplanned_minutes"] == 140
    new = as_user(customer_b).get(url(fleet.tenant_b, "?month=2026-11"))
    mine = [(r["interval"].started_at, r["interval"].tenant_id) for r in new.context["rows"]]
    assert (at(25, 10), fleet.tenant_b.pk) in mine and (at(3, 10), fleet.tenant_a.pk) not in mine
    # the old owner's row no longer links to a miner page it cannot open
    body = old.content.decode()
    assert f"/miners/{a0.site.code}/{a0.miner_id}/" not in body


def test_the_default_period_is_this_month_and_bad_input_says_so(as_user, fleet, customer_a):
    client = as_user(customer_a)
    response = client.get(url(fleet.tenant_a))
    period = response.context["period"]
    assert (period.start, period.end) == (at(1, month=12), dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    assert response.context["rows"] == []
    for query in (
        "?from=2026-11-10&to=2026-11-01",
        "?from=nope&to=2026-11-01",
        "?month=13-2026",
        "?from=2025-01-01&to=2026-11-01",
    ):
        response = client.get(url(fleet.tenant_a, query))
        assert response.status_code == 200 and 'id="period-error"' in response.content.decode()
        assert response.context["period"].start == at(1, month=12)
    ranged = client.get(url(fleet.tenant_a, "?from=2026-11-03&to=2026-11-04"))
    assert ranged.context["totals"]["period_minutes"] == 3 * 2 * 1440
    assert sorted(r["interval"].cause for r in ranged.context["rows"]) == ["maintenance", "offline"]


def test_intervals_are_paginated(as_user, fleet, customer_a):
    a0 = fleet.miners_a_x[0]
    for n in range(60):
        down(a0, at(10) + dt.timedelta(hours=n), 10)
    client = as_user(customer_a)
    first = client.get(url(fleet.tenant_a, "?month=2026-11"))
    assert len(first.context["rows"]) == 50 and first.context["page"].paginator.count == 64
    second = client.get(url(fleet.tenant_a, "?month=2026-11&page=2"))
    assert len(second.context["rows"]) == 14


def test_dashboard_shows_availability_this_month_and_links_to_the_page(as_user, fleet, customer_a):
    down(fleet.miners_a_x[0], at(2, 10, month=12), 60)
    response = as_user(customer_a).get(f"/portal/t/{fleet.tenant_a.slug}/")
    month = response.context["month"]
    owned = 3 * (5 * 1440 + 12 * 60)  # Dec 1 to Dec 6 12:00
    assert month["period_minutes"] == owned
    assert month["availability_pct"] == round(100 * (owned - 60) / owned, 3)
    body = response.content.decode()
    assert re.search(r'id="availability-month">99\.75 %<', body)
    assert f'href="/portal/t/{fleet.tenant_a.slug}/downtime/" id="downtime-link"' in body
    assert f'href="/portal/t/{fleet.tenant_a.slug}/downtime/"' in body.split("</nav>")[0]  # in the nav


def test_the_miner_page_lists_its_recent_intervals(as_user, fleet, customer_a):
    a0 = fleet.miners_a_x[0]
    down(a0, at(2, 10, month=12), 60)
    response = as_user(customer_a).get(f"/portal/t/{fleet.tenant_a.slug}/miners/{a0.site.code}/{a0.miner_id}/")
    assert [i.started_at for i in response.context["intervals"]] == [at(2, 10, month=12)]  # Nov 3 is > 30 days ago
    assert 'id="miner-downtime-table"' in response.content.decode()
