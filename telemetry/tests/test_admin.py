"""The NOC console's telemetry pages: live state per site, upload receipts, tier history, and the
collectors' last-seen column. Read-only, scoped, and a constant number of queries per page."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from telemetry.tests.live_rows import live, receipt
from telemetry.tests.tier_rows import insert_1m
from tenants.models import CollectorToken
from tests.factories import MinerFactory

pytestmark = pytest.mark.django_db

LIVE = reverse("admin:telemetry_telemetrylive_changelist")
BATCHES = reverse("admin:telemetry_ingestbatch_changelist")
HISTORY = reverse("admin:telemetry_history")


@pytest.fixture
def fleet(world):
    receipt(world.collector_x, age_sec=5)
    for m in world.miners_a_x:
        live(m, temp=70.0)
    live(world.miners_b_x[0], temp=95.0)
    live(world.miners_b_x[1], age_sec=900, temp=50.0)
    for m in world.miners_b_y:
        live(m, age_sec=900)
    return world


def shown(response, miners) -> set[str]:
    return {m.miner_id for m in miners if f">{m.miner_id}</a>".encode() in response.content}


def test_live_changelist_shows_an_operator_their_sites_miners_only(as_user, fleet, noc_x):
    response = as_user(noc_x).get(LIVE)
    assert response.status_code == 200
    everyone = fleet.miners_a_x + fleet.miners_b_x + fleet.miners_b_y
    assert shown(response, everyone) == {m.miner_id for m in fleet.miners_a_x + fleet.miners_b_x}
    assert b"SITE-Y" not in response.content
    assert (
        b'name="_save"'
        not in as_user(noc_x)
        .get(reverse("admin:telemetry_telemetrylive_change", args=[fleet.miners_a_x[0].pk]))
        .content
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("state=offline", {"B1"}),
        ("state=online", {"A0", "A1", "A2", "B0"}),
        ("temp_gte=90", {"B0"}),
        ("temp_gte=60&state=online", {"A0", "A1", "A2", "B0"}),
    ],
)
def test_live_changelist_filters(as_user, fleet, noc_x, query, expected):
    names = {m.miner_id: f"A{i}" for i, m in enumerate(fleet.miners_a_x)} | {
        m.miner_id: f"B{i}" for i, m in enumerate(fleet.miners_b_x)
    }
    response = as_user(noc_x).get(f"{LIVE}?{query}")
    assert {names[m] for m in shown(response, fleet.miners_a_x + fleet.miners_b_x)} == expected


def test_live_changelist_filters_by_zone_and_tenant(as_user, fleet, noc_x):
    client = as_user(noc_x)
    assert shown(client.get(f"{LIVE}?zone={fleet.zone_x1.pk}"), fleet.miners_a_x + fleet.miners_b_x) == {
        m.miner_id for m in fleet.miners_a_x
    }
    assert shown(client.get(f"{LIVE}?tenant__id__exact={fleet.tenant_b.pk}"), fleet.miners_a_x + fleet.miners_b_x) == {
        m.miner_id for m in fleet.miners_b_x
    }


def test_a_non_numeric_temperature_is_refused_not_a_crash(as_user, fleet, noc_x):
    response = as_user(noc_x).get(f"{LIVE}?temp_gte=hot")
    assert response.status_code == 302 and "e=1" in response["Location"]


def test_live_changelist_shows_the_unknown_state_when_the_collector_is_dark(as_user, world, noc_y):
    for m in world.miners_b_y:
        live(m, age_sec=900)
    response = as_user(noc_y).get(f"{LIVE}?state=unknown")
    assert shown(response, world.miners_b_y) == {m.miner_id for m in world.miners_b_y}


def test_live_changelist_query_count_does_not_grow_with_miners(as_user, fleet, noc_x, django_assert_num_queries):
    client = as_user(noc_x)
    # session, user, grants, sites+coverage, count, rows, then the site/zone/tenant filter choices
    with django_assert_num_queries(9):
        assert client.get(LIVE).status_code == 200
    for m in MinerFactory.create_batch(30, site=fleet.site_x, zone=fleet.zone_x1, tenant=fleet.tenant_a):
        live(m)
    with django_assert_num_queries(9):
        response = client.get(LIVE)
    assert response.context["cl"].result_count == 35


def test_customers_get_no_telemetry_admin(as_user, fleet, customer_a):
    client = as_user(customer_a)
    for path in (LIVE, BATCHES, f"{HISTORY}?miner={fleet.miners_a_x[0].pk}"):
        assert client.get(path).status_code == 403


def test_ingest_receipts_show_what_each_collector_sent(as_user, world, noc_x, django_assert_num_queries):
    receipt(world.collector_x, accepted=8, rejected=2, reasons=[{"index": 4, "code": "FUTURE_TIMESTAMP"}])
    receipt(world.collector_y, accepted=1, reasons=[{"index": 0, "code": "SITE-Y-ONLY-REASON"}])
    client = as_user(noc_x)
    with django_assert_num_queries(8):
        response = client.get(f"{BATCHES}?rejected=yes")
    assert response.status_code == 200
    assert b"FUTURE_TIMESTAMP" in response.content and b"edge-x" in response.content
    assert b"SITE-Y-ONLY-REASON" not in response.content
    assert b"FUTURE_TIMESTAMP" not in client.get(f"{BATCHES}?rejected=no").content


def test_collector_changelist_shows_when_each_collector_was_last_seen(as_user, world, noc_x):
    seen = timezone.now() - dt.timedelta(minutes=3)
    CollectorToken.objects.filter(collector=world.collector_x).update(last_used_at=seen)
    response = as_user(noc_x).get(reverse("admin:tenants_collector_changelist"))
    (collector,) = response.context["cl"].result_list
    assert collector.last_seen_at == seen
    assert b"last seen" in response.content.lower()


def test_history_view_shows_an_operators_miner(as_user, world, noc_x):
    miner = world.miners_b_x[0]
    bucket = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=20)
    insert_1m(miner.site_id, miner.tenant_id, miner.pk, bucket, hashrate=123.5)
    response = as_user(noc_x).get(f"{HISTORY}?miner={miner.pk}&tier=1m")
    assert response.status_code == 200
    assert b"123.5" in response.content and b"1 point" in response.content


def test_history_view_refuses_a_range_beyond_the_tier_bound(as_user, world, noc_x):
    response = as_user(noc_x).get(f"{HISTORY}?miner={world.miners_a_x[0].pk}&tier=raw&hours=48")
    assert response.status_code == 200 and b"range too long" in response.content


@pytest.mark.parametrize("miner", ["other_site", "missing", "garbage"])
def test_history_view_forbids_other_sites_and_missing_miners_alike(as_user, world, noc_x, miner):
    pk = {"other_site": world.miners_b_y[0].pk, "missing": 2147480001, "garbage": "x"}[miner]
    assert as_user(noc_x).get(f"{HISTORY}?miner={pk}").status_code == 403
