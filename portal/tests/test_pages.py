"""The portal's pages through the test client: who may open which tenant, what each page shows,
and that a page's query count does not grow with the fleet."""

import datetime as dt
import json
import re

import pytest

from audit.services import Actor
from conftest import grant
from control.services import creation, decisions
from portal.tests.data import bucket_row, daily_row, insert_1m, live, quarter, receipt
from tenants.models import Role
from tenants.services import miner_assign_owner
from tests.factories import MinerFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def dashboard(slug):
    return f"/portal/t/{slug}/"


def miner_url(slug, miner):
    return f"/portal/t/{slug}/miners/{miner.site.code}/{miner.miner_id}/"


def chart_data(response, element_id):
    body = response.content.decode()
    start = body.index(f'id="{element_id}"')
    start = body.index(">", start) + 1
    return json.loads(body[start : body.index("</script>", start)])


def _without_csrf(response):
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())


# --- who gets in ---------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_login(client, world):
    response = client.get(dashboard("tenant-a"))
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_a_customer_lands_on_their_tenants_dashboard(as_user, customer_a):
    response = as_user(customer_a).get("/", follow=True)
    assert response.redirect_chain[-1][0] == dashboard("tenant-a")
    assert response.status_code == 200


def test_another_tenants_portal_gets_the_same_403_as_a_missing_one(as_user, world, customer_a):
    client = as_user(customer_a)
    other = client.get(dashboard("tenant-b"))
    missing = client.get(dashboard("no-such-tenant"))
    assert other.status_code == missing.status_code == 403
    assert _without_csrf(other) == _without_csrf(missing)
    assert world.tenant_b.name not in other.content.decode()


def test_another_tenants_miner_gets_403_even_under_the_customers_own_slug(as_user, world, customer_a):
    client = as_user(customer_a)
    b_miner = world.miners_b_x[0]  # at the shared site X
    assert client.get(miner_url("tenant-a", b_miner)).status_code == 403
    assert client.get(miner_url("tenant-b", b_miner)).status_code == 403
    assert client.get(miner_url("tenant-a", world.miners_a_x[0])).status_code == 200


def test_pages_are_read_only(as_user, customer_a, noc_x):
    assert as_user(customer_a).post(dashboard("tenant-a")).status_code == 405
    assert as_user(noc_x).post(f"{dashboard('tenant-a')}miners/").status_code == 405


def test_an_operator_views_a_tenant_read_only_with_a_banner(as_user, world, noc_x):
    receipt(world.collector_x)
    response = as_user(noc_x).get(dashboard("tenant-b"))
    body = response.content.decode()
    assert response.status_code == 200
    assert f"Viewing {world.tenant_b.name} as operator, read-only" in body
    # B's miners at site X only: a NOC of X sees nothing of site Y
    assert 'id="total-miners">2<' in body
    assert "SITE-Y" not in body


def test_an_operator_gets_403_for_a_tenant_with_no_miner_at_their_sites(as_user, world, noc_x):
    tenant_c = TenantFactory(slug="tenant-c")
    MinerFactory(site=world.site_y, tenant=tenant_c)
    assert as_user(noc_x).get(dashboard("tenant-c")).status_code == 403


def test_operators_pick_a_tenant_on_the_portal_index(as_user, world, noc_x):
    response = as_user(noc_x).get("/portal/")
    body = response.content.decode()
    assert response.status_code == 200
    assert world.tenant_a.name in body and world.tenant_b.name in body


def test_a_customer_of_two_tenants_gets_a_switcher(as_user, world, customer_a):
    grant(customer_a, Role.CUSTOMER, tenant=world.tenant_b)
    client = as_user(customer_a)
    body = client.get(dashboard("tenant-a")).content.decode()
    assert 'id="tenant-switch"' in body and world.tenant_b.name in body
    response = client.get("/portal/?tenant=tenant-b")
    assert response.status_code == 302 and response.url == dashboard("tenant-b")


def test_a_customer_with_one_tenant_gets_no_switcher(as_user, customer_a):
    assert 'id="tenant-switch"' not in as_user(customer_a).get(dashboard("tenant-a")).content.decode()


def test_a_user_without_any_tenant_sees_an_empty_portal(as_user, world):
    response = as_user(UserFactory()).get("/portal/")
    assert response.status_code == 200
    assert "No tenant is assigned" in response.content.decode()


# --- dashboard -----------------------------------------------------------------------------------


def test_the_dashboard_counts_states_and_hashrate_of_the_tenants_miners_only(as_user, world, customer_a):
    receipt(world.collector_x)
    a1, a2, a3 = world.miners_a_x
    live(a1, hashrate=150_000.0)
    live(a2, online=False)
    live(a3, age_sec=3600)  # silent while the collector uploads: offline
    for m in world.miners_b_x:
        live(m, hashrate=999_000.0)
    body = as_user(customer_a).get(dashboard("tenant-a")).content.decode()
    assert 'id="count-online">1<' in body
    assert 'id="count-offline">2<' in body
    assert 'id="count-unknown">0<' in body
    assert "150.0 <small>TH/s</small>" in body  # B's 999 TH/s miners are not added
    assert "of 600.0 TH/s nominal" in body  # 3 × 200 TH/s
    assert "25.0 %" in body


def test_a_dark_collector_makes_miners_unknown_not_offline(as_user, world, customer_a):
    for m in world.miners_a_x:
        live(m, age_sec=3600)
    body = as_user(customer_a).get(dashboard("tenant-a")).content.decode()
    assert 'id="count-unknown">3<' in body
    assert 'id="count-offline">0<' in body


def test_the_hashrate_chart_joins_the_15m_tier_and_the_1m_tail(as_user, world, customer_a, time_machine):
    now = dt.datetime(2026, 11, 24, 12, 7, tzinfo=dt.UTC)
    time_machine.move_to(now, tick=False)
    a1, a2, _ = world.miners_a_x
    for m in (a1, a2):
        bucket_row(m, quarter(now) - dt.timedelta(minutes=30), hashrate=100_000.0)
        bucket_row(m, quarter(now) - dt.timedelta(minutes=15), hashrate=110_000.0)
    bucket_row(world.miners_b_x[0], quarter(now) - dt.timedelta(minutes=15), hashrate=500_000.0)
    insert_1m(a1.site_id, a1.tenant_id, a1.pk, quarter(now) + dt.timedelta(minutes=2), hashrate=120_000.0)
    insert_1m(a1.site_id, a1.tenant_id, a1.pk, quarter(now) - dt.timedelta(minutes=5), hashrate=1.0)  # in a 15m bucket
    response = as_user(customer_a).get(dashboard("tenant-a"))
    data = chart_data(response, "hashrate-data")
    t0 = int((quarter(now) - dt.timedelta(minutes=30)).timestamp())
    assert data["t"] == [t0, t0 + 900, t0 + 1920]
    assert data["series"][0]["values"] == [200.0, 220.0, 120.0]  # TH/s; B's 500 TH/s bucket left out
    assert data["nominal_ths"] == 600.0


def test_the_dashboard_breaks_figures_down_per_site(as_user, world, customer_b):
    receipt(world.collector_x)
    for m in world.miners_b_x:
        live(m)
    body = as_user(customer_b).get(dashboard("tenant-b")).content.decode()
    assert "SITE-X" in body and "SITE-Y" in body
    assert world.miners_a_x[0].miner_id not in body


# --- miner list ----------------------------------------------------------------------------------


def _many_miners(world, n):
    return [MinerFactory(site=world.site_x, tenant=world.tenant_a, model="S19" if i % 2 else "S21") for i in range(n)]


def test_the_miner_list_shows_the_tenants_miners_with_state_chips(as_user, world, customer_a):
    receipt(world.collector_x)
    live(world.miners_a_x[0])
    body = as_user(customer_a).get(f"{dashboard('tenant-a')}miners/").content.decode()
    for m in world.miners_a_x:
        assert m.miner_id in body
    for m in world.miners_b_x + world.miners_b_y:
        assert m.miner_id not in body
    assert '<span class="chip online">online</span> 1' in body
    assert '<span class="chip offline">offline</span> 2' in body


def test_the_miner_list_paginates_searches_and_sorts_on_the_server(as_user, world, customer_a):
    extra = _many_miners(world, 60)
    client = as_user(customer_a)
    base = f"{dashboard('tenant-a')}miners/"
    first = client.get(base).content.decode()
    assert "page 1 of 2" in first and "1–50 of 63" in first
    assert "page 2 of 2" in client.get(f"{base}?page=2").content.decode()
    s19 = client.get(f"{base}?q=S19").content.decode()
    assert "of 30" in s19
    hot = extra[5]
    live(hot, temp=95.0)
    by_temp = client.get(f"{base}?sort=-temp").context["page"].object_list
    assert by_temp[0]["miner_id"] == hot.miner_id
    by_id = client.get(f"{base}?sort=-miner").context["page"].object_list
    assert [r["miner_id"] for r in by_id] == sorted((r["miner_id"] for r in by_id), reverse=True)


def test_the_miner_list_filters_by_state(as_user, world, customer_a):
    receipt(world.collector_x)
    live(world.miners_a_x[1])
    rows = as_user(customer_a).get(f"{dashboard('tenant-a')}miners/?state=online").context["page"].object_list
    assert [r["miner_id"] for r in rows] == [world.miners_a_x[1].miner_id]


def test_the_miner_list_query_count_does_not_grow_with_the_fleet(as_user, world, customer_a, django_assert_num_queries):
    client = as_user(customer_a)
    url = f"{dashboard('tenant-a')}miners/?sort=-hashrate"
    client.get(url)  # warm the session
    # session, user, grants, tenant, switcher list, coverage, count, page, state chips
    with django_assert_num_queries(9):
        client.get(url)
    _many_miners(world, 120)
    with django_assert_num_queries(9):
        assert client.get(url).status_code == 200


def test_the_dashboard_query_count_does_not_grow_with_the_fleet(as_user, world, customer_a, django_assert_num_queries):
    client = as_user(customer_a)
    client.get(dashboard("tenant-a"))
    # session, user, grants, tenant, coverage, grouped figures, site ids, 15m, 1m, switcher list,
    # and availability this month: miners owned, their intervals, the summary
    with django_assert_num_queries(13):
        client.get(dashboard("tenant-a"))
    _many_miners(world, 120)
    with django_assert_num_queries(13):
        assert client.get(dashboard("tenant-a")).status_code == 200


# --- miner page ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("range_key", "tier", "points"),
    [("24h", "1m", 2), ("7d", "15m", 3), ("30d", "daily", 4)],
)
def test_the_miner_page_reads_each_range_from_its_tier(
    as_user, world, customer_a, time_machine, range_key, tier, points
):
    now = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
    time_machine.move_to(now, tick=False)
    m = world.miners_a_x[0]
    for i in range(2):
        insert_1m(m.site_id, m.tenant_id, m.pk, now - dt.timedelta(minutes=10 + i), hashrate=90_000.0)
    for i in range(3):
        bucket_row(m, now - dt.timedelta(hours=6 * (i + 1)), hashrate=100_000.0, temp=80.0)
    for i in range(4):
        daily_row(m, (now - dt.timedelta(days=i + 1)).date(), hashrate=100_000.0)
    response = as_user(customer_a).get(f"{miner_url('tenant-a', m)}?range={range_key}")
    assert response.status_code == 200
    assert response.context["tier"] == tier
    data = chart_data(response, "miner-data")
    assert len(data["t"]) == points
    assert data["series"][0]["values"][0] == (90.0 if tier == "1m" else 100.0)


def test_the_miner_page_lists_every_command_with_who_why_and_approver(as_user, world, customer_a, ops_manager_x, noc_x):
    m = world.miners_a_x[0]
    fan = creation.command_create(
        actor=Actor.user(noc_x), user=noc_x, miner=m, command_type="set_fan", params={"speed": 80}, reason="hot aisle"
    )
    reboot = creation.command_create(
        actor=Actor.user(noc_x), user=noc_x, miner=m, command_type="reboot", reason="hashrate stuck at zero"
    )
    decisions.command_approve(actor=Actor.user(ops_manager_x), user=ops_manager_x, command=reboot, reason="ok")
    other = world.miners_a_x[1]
    creation.command_create(
        actor=Actor.user(noc_x), user=noc_x, miner=other, command_type="set_fan", params={"speed": 50}, reason="other"
    )
    response = as_user(customer_a).get(miner_url("tenant-a", m))
    body = response.content.decode()
    assert [c.pk for c in response.context["commands"]] == [reboot.pk, fan.pk]
    assert "hot aisle" in body and "hashrate stuck at zero" in body
    assert ops_manager_x.email in body and noc_x.email in body
    assert "Reboot" in body and "Set fan" in body


def test_the_miner_page_shows_no_commands_of_the_previous_owner(as_user, world, customer_b, noc_x):
    m = world.miners_a_x[0]
    creation.command_create(
        actor=Actor.user(noc_x), user=noc_x, miner=m, command_type="set_fan", params={"speed": 80}, reason="A's time"
    )
    miner_assign_owner(actor=Actor.system("test"), miners=[m], tenant=world.tenant_b)
    response = as_user(customer_b).get(miner_url("tenant-b", m))
    assert response.status_code == 200
    assert "A&#x27;s time" not in response.content.decode()
    assert response.context["commands"] == []


def test_an_unknown_range_falls_back_to_24_hours(as_user, world, customer_a):
    response = as_user(customer_a).get(f"{miner_url('tenant-a', world.miners_a_x[0])}?range=1y")
    assert response.context["range"] == "24h"
    assert "No samples in this range." in response.content.decode()
