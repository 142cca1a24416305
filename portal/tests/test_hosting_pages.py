"""The portal's work-order and events pages: a tenant's own rows only, public comments and status
changes only, 403 for another tenant's order, and query counts that do not grow with the rows."""

import datetime as dt

import pytest
from django.utils import timezone

from conftest import SETUP
from hosting.services.alerts import COLLECTOR_DARK, alert_raise
from hosting.services.maintenance import maintenance_window_create
from hosting.services.work_orders import work_order_comment, work_order_create, work_order_transition
from tenants.services import miner_assign_owner

pytestmark = pytest.mark.django_db


def orders_url(slug, pk=None):
    return f"/portal/t/{slug}/work-orders/" + (f"{pk}/" if pk else "")


def events_url(slug):
    return f"/portal/t/{slug}/events/"


@pytest.fixture
def hosting(world, noc_x):
    a = work_order_create(actor=None, user=noc_x, site=world.site_x, miner=world.miners_a_x[0], title="A fan noise")
    work_order_comment(actor=None, user=noc_x, work_order=a, body="internal: blame the PSU vendor")
    work_order_comment(actor=None, user=noc_x, work_order=a, body="Replacing the fan today", public=True)
    work_order_transition(actor=None, user=noc_x, work_order=a, to="in_progress", reason="tech on site")
    b = work_order_create(actor=None, user=noc_x, site=world.site_x, miner=world.miners_b_x[0], title="B psu swap")
    site = work_order_create(actor=None, user=noc_x, site=world.site_x, title="Site-wide dust-off")
    start = timezone.now() + dt.timedelta(hours=1)
    window = maintenance_window_create(
        actor=None,
        user=noc_x,
        site=world.site_x,
        reason="Breaker test",
        starts_at=start,
        ends_at=start + dt.timedelta(hours=1),
    )
    b_window = maintenance_window_create(
        actor=None,
        user=noc_x,
        site=world.site_x,
        miner=world.miners_b_x[1],
        reason="B only window",
        starts_at=start,
        ends_at=start + dt.timedelta(hours=1),
    )
    alert_raise(site=world.site_x, miner=world.miners_a_x[1], kind="overheat", title="A runs hot")
    alert_raise(site=world.site_x, miner=world.miners_b_x[0], kind="overheat", title="B runs hot")
    alert_raise(site=world.site_x, kind=COLLECTOR_DARK, title="Collector SITE-X/edge-x dark")
    alert_raise(site=world.site_x, kind="power", title="PDU trip in rack B7")
    return {"a": a, "b": b, "site": site, "window": window, "b_window": b_window}


def test_the_work_order_list_shows_the_tenants_orders_only(as_user, customer_a, hosting):
    r = as_user(customer_a).get(orders_url("tenant-a"))
    html = r.content.decode()
    assert r.status_code == 200
    assert "A fan noise" in html and "B psu swap" not in html and "Site-wide dust-off" not in html
    assert 'href="/portal/t/tenant-a/work-orders/"' in html  # in the nav
    assert "A fan noise" not in as_user(customer_a).get(orders_url("tenant-a"), {"status": "open"}).content.decode()


def test_a_work_order_page_shows_status_history_and_public_comments_only(as_user, customer_a, hosting):
    r = as_user(customer_a).get(orders_url("tenant-a", hosting["a"].pk))
    html = r.content.decode()
    assert r.status_code == 200
    assert "Replacing the fan today" in html and "blame the PSU vendor" not in html
    assert "internal comment" not in html and "public comment" not in html  # no non-status history rows
    assert "tech on site" in html and 'id="work-order-status">in progress<' in html
    assert "noc-x" not in html


def test_another_tenants_work_order_is_403_and_a_malformed_one_404(as_user, customer_a, customer_b, hosting):
    client = as_user(customer_a)
    for pk in (hosting["b"].pk, hosting["site"].pk, 999_999):
        assert client.get(orders_url("tenant-a", pk)).status_code == 403
    assert client.get(orders_url("tenant-b", hosting["b"].pk)).status_code == 403
    assert client.get("/portal/t/tenant-a/work-orders/abc/").status_code == 404
    assert as_user(customer_b).get(orders_url("tenant-b", hosting["b"].pk)).status_code == 200


def test_an_operator_sees_the_customers_view_read_only(as_user, noc_x, hosting):
    r = as_user(noc_x).get(orders_url("tenant-a", hosting["a"].pk))
    html = r.content.decode()
    assert r.status_code == 200 and 'id="operator-banner"' in html
    assert "blame the PSU vendor" not in html


def test_events_list_the_tenants_alerts_orders_windows_and_commands_newest_first(
    as_user, world, customer_a, hosting, noc_x
):
    from audit.services import Actor
    from control.services import creation

    creation.command_create(
        actor=Actor.user(noc_x), user=noc_x, miner=world.miners_a_x[2], command_type="reboot", reason="hung"
    )
    html = as_user(customer_a).get(events_url("tenant-a")).content.decode()
    for seen in ("A runs hot", "Collector SITE-X/edge-x dark", "A fan noise", "Breaker test", "reboot"):
        assert seen in html, seen
    for hidden in ("B runs hot", "PDU trip in rack B7", "B psu swap", "Site-wide dust-off", "B only window"):
        assert hidden not in html, hidden
    assert 'data-kind="command"' in html


def test_events_filter_by_kind(as_user, customer_a, hosting):
    html = as_user(customer_a).get(events_url("tenant-a"), {"kind": "alert"}).content.decode()
    assert "A runs hot" in html and "A fan noise" not in html and "Breaker test" not in html
    html = as_user(customer_a).get(events_url("tenant-a"), {"kind": "maintenance"}).content.decode()
    assert "Breaker test" in html and "A runs hot" not in html
    html = as_user(customer_a).get(events_url("tenant-a"), {"kind": "nonsense"}).content.decode()
    assert "A runs hot" in html  # an unknown kind shows all


def test_events_paginate_newest_first(as_user, world, customer_a, noc_x):
    for n in range(55):
        alert_raise(
            site=world.site_x,
            miner=world.miners_a_x[0],
            kind=f"k{n}",
            title=f"alert number {n:02d}",
            now=timezone.now() - dt.timedelta(minutes=60 - n),
        )
    first = as_user(customer_a).get(events_url("tenant-a")).content.decode()
    assert "alert number 54" in first and "alert number 04" not in first and "page 1 of 2" in first
    second = as_user(customer_a).get(events_url("tenant-a"), {"page": 2}).content.decode()
    assert "alert number 04" in second and "alert number 54" not in second


def test_an_order_stays_with_the_owner_it_was_opened_for(as_user, world, customer_a, customer_b, hosting):
    miner_assign_owner(actor=SETUP, miners=[world.miners_a_x[0]], tenant=world.tenant_b)
    assert as_user(customer_a).get(orders_url("tenant-a", hosting["a"].pk)).status_code == 200
    assert as_user(customer_b).get(orders_url("tenant-b", hosting["a"].pk)).status_code == 403


def test_the_pages_query_count_does_not_grow_with_the_rows(
    as_user, world, customer_a, noc_x, hosting, django_assert_max_num_queries
):
    client = as_user(customer_a)
    client.get(events_url("tenant-a"))
    for n in range(20):
        work_order_create(actor=None, user=noc_x, site=world.site_x, miner=world.miners_a_x[1], title=f"more {n}")
    with django_assert_max_num_queries(9):
        assert client.get(orders_url("tenant-a")).status_code == 200
    with django_assert_max_num_queries(9):
        assert client.get(events_url("tenant-a")).status_code == 200
