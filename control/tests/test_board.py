"""The NOC's live command board and the unknown-ACK evidence: what a NOC reads first, scoped to
their sites, in a fixed number of queries, refreshed from its JSON twin."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from prometheus_client import REGISTRY

from control.models import CommandAck, CommandState
from control.tests.factories import ControlCommandFactory, collector_headers

pytestmark = pytest.mark.django_db
BOARD = "/admin/control/command/board/"


@pytest.fixture
def queue(world):
    now = timezone.now()
    a0, a1, a2 = world.miners_a_x
    old = ControlCommandFactory(miner=a0, created_at=now - dt.timedelta(minutes=7))
    ControlCommandFactory(
        miner=a1, state=CommandState.PROPOSED, reason="please", created_at=now - dt.timedelta(minutes=3)
    )
    ControlCommandFactory(miner=a2, state=CommandState.DISPATCHED, lease_until=now - dt.timedelta(minutes=1))
    for _ in range(2):
        ControlCommandFactory(
            miner=world.miners_b_x[0], state=CommandState.FAILED, error_code="EDGE_NOT_FOUND", finished_at=now
        )
    ControlCommandFactory(miner=world.miners_b_y[0], state=CommandState.PROPOSED, reason="site Y's")
    return old


def _ack_unknown(client, world, wire_id="999999"):
    return client.post(
        f"/api/edge/v1/commands/{wire_id}/ack",
        data={"status": "completed", "result_code": 0, "result_message": "ok", "site_id": "SITE-X"},
        content_type="application/json",
        **collector_headers(world.token_x, "SITE-X"),
    )


def test_the_board_shows_the_queue_of_my_sites_only(client, world, noc_x, queue):
    assert _ack_unknown(client, world).status_code == 200
    client.force_login(noc_x)
    board = client.get(BOARD, {"format": "json"}).json()
    (x,) = board["sites"]
    assert x["site"] == "SITE-X"
    assert {k: v for k, v in x["counts"].items() if v} == {"queued": 1, "proposed": 1, "dispatched": 1}
    assert 7 * 60 - 5 <= x["oldest_ready_age_sec"] <= 7 * 60 + 60
    assert (x["stuck_leases"], x["failed_last_hour"], x["unknown_acks_last_hour"]) == (1, 2, 1)
    (waiting,) = board["waiting_approval"]
    assert (waiting["site"], waiting["reason"]) == ("SITE-X", "please") and waiting["age_sec"] >= 180
    assert board["top_errors_last_hour"] == [{"error_code": "EDGE_NOT_FOUND", "n": 2}]
    html = client.get(BOARD).content.decode()
    assert "Waiting for approval" in html and "please" in html and "site Y" not in html
    assert "setInterval(refresh" in html  # refreshes itself from the JSON twin


def test_another_sites_board_is_the_same_403_as_a_missing_one(client, noc_x, queue):
    client.force_login(noc_x)
    for site in ("SITE-Y", "NO-SUCH-SITE"):
        assert client.get(BOARD, {"site": site}).status_code == 403
        assert client.get(BOARD, {"site": site, "format": "json"}).status_code == 403


def test_the_board_costs_the_same_few_queries_however_long_the_queue(client, world, noc_x, queue):
    client.force_login(noc_x)
    with CaptureQueriesContext(connection) as small:
        client.get(BOARD, {"format": "json"})
    for m in world.miners_a_x * 10:
        ControlCommandFactory(miner=m, state=CommandState.PROPOSED)
        ControlCommandFactory(miner=m, state=CommandState.FAILED, error_code="X", finished_at=timezone.now())
    with CaptureQueriesContext(connection) as big:
        client.get(BOARD, {"format": "json"})
    assert len(big.captured_queries) == len(small.captured_queries)


def test_unknown_acks_are_kept_listed_with_their_body_and_counted(
    client, world, noc_x, django_capture_on_commit_callbacks
):
    def count():
        return REGISTRY.get_sample_value("command_acks_total", {"disposition": "unknown"}) or 0.0

    before = count()
    with django_capture_on_commit_callbacks(execute=True):  # the counter moves once the ACK commits
        response = _ack_unknown(client, world, "424242")
    assert response.status_code == 200  # the collector must stop re-sending it
    ack = CommandAck.objects.get(wire_id="424242")
    assert ack.disposition == CommandAck.Disposition.UNKNOWN and ack.payload["result_message"] == "ok"
    assert count() == before + 1
    client.force_login(noc_x)
    listing = client.get(reverse("admin:control_commandack_changelist"), {"disposition__exact": "unknown"})
    assert listing.status_code == 200 and "424242" in listing.content.decode()
    page = client.get(reverse("admin:control_commandack_change", args=[ack.pk])).content.decode()
    assert "result_message" in page
