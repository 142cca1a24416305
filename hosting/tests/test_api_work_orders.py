"""/api/v1/hosting/work_orders over HTTP: operators create, move, comment and assign; customers read
their tenant's orders with public comments only; everyone else's id is 403 FORBIDDEN."""

import pytest

from audit.models import AuditEvent
from hosting.models import WorkOrder
from hosting.services.alerts import alert_raise
from hosting.services.work_orders import work_order_comment, work_order_create, work_order_transition

pytestmark = pytest.mark.django_db
V1 = "/api/v1/hosting/work_orders"


def post(client, path, body):
    return client.post(path, body, content_type="application/json")


@pytest.fixture
def orders(world, noc_x):
    a = work_order_create(actor=None, user=noc_x, site=world.site_x, miner=world.miners_a_x[0], title="A fan")
    b = work_order_create(actor=None, user=noc_x, site=world.site_x, miner=world.miners_b_x[0], title="B psu")
    site = work_order_create(actor=None, user=noc_x, site=world.site_x, title="Site dust-off")
    work_order_comment(actor=None, user=noc_x, work_order=a, body="internal: tech notes")
    work_order_comment(actor=None, user=noc_x, work_order=a, body="We are on it", public=True)
    work_order_transition(actor=None, user=noc_x, work_order=a, to="in_progress", reason="started")
    return {"a": a, "b": b, "site": site}


def test_an_operator_creates_one_at_a_miner(as_user, world, noc_x):
    r = post(
        as_user(noc_x),
        V1,
        {"site_id": "SITE-X", "miner_id": world.miners_a_x[1].miner_id, "title": "Loud fan", "priority": "high"},
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert (body["status"], body["tenant"], body["priority"], body["source"]) == (
        "open",
        "tenant-a",
        "high",
        "operator",
    )
    assert body["history"][0]["to_status"] == "open" and "in_progress" in body["next_statuses"]
    assert AuditEvent.objects.filter(action="hosting.work_order.created", entity_id=str(body["id"])).count() == 1


def test_an_operator_opens_one_from_an_alert(as_user, world, noc_x):
    alert = alert_raise(site=world.site_x, miner=world.miners_b_x[1], kind="overheat", title="hot")
    r = post(as_user(noc_x), V1, {"alert_id": alert.pk, "title": "Check cooling"})
    assert r.status_code == 201, r.json()
    assert (r.json()["alert_id"], r.json()["source"], r.json()["miner_id"]) == (
        alert.pk,
        "alert",
        world.miners_b_x[1].miner_id,
    )


def test_bad_input_is_400_with_an_error_code(as_user, world, noc_x):
    client = as_user(noc_x)
    r = post(client, V1, {"title": "no site"})
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER")
    assert "site_id" in r.json()["fields"]
    r = post(client, V1, {"site_id": "SITE-X", "title": "x", "priority": "yesterday"})
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER")


def test_transition_comment_and_assign_over_http(as_user, world, noc_x, orders):
    client = as_user(noc_x)
    pk = orders["b"].pk
    r = post(client, f"{V1}/{pk}/transition", {"to": "waiting_customer", "reason": "need access"})
    assert (r.status_code, r.json()["status"]) == (200, "waiting_customer")
    r = post(client, f"{V1}/{pk}/transition", {"to": "closed"})
    assert (r.status_code, r.json()["error_code"]) == (409, "INVALID_TRANSITION")
    r = post(client, f"{V1}/{pk}/comments", {"body": "Waiting for the customer", "public": True})
    assert r.status_code == 201 and r.json()["comments"][-1]["author"] == "noc-x"
    r = post(client, f"{V1}/{pk}/assign", {"assignee": "noc-x"})
    assert (r.status_code, r.json()["assignee"]) == (200, "noc-x")
    r = post(client, f"{V1}/{pk}/assign", {"assignee": "nobody-by-that-name"})
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER")


def test_an_operator_lists_the_orders_of_their_site_with_filters(
    as_user, world, noc_x, orders, django_assert_max_num_queries
):
    client = as_user(noc_x)
    with django_assert_max_num_queries(6):
        r = client.get(V1)
    assert r.status_code == 200
    assert {o["title"] for o in r.json()["results"]} == {"A fan", "B psu", "Site dust-off"}
    r = client.get(V1, {"status": "in_progress"})
    assert [o["title"] for o in r.json()["results"]] == ["A fan"]
    r = client.get(V1, {"status": "sleeping"})
    assert r.status_code == 400


def test_a_customer_reads_their_orders_with_public_comments_and_status_changes_only(as_user, customer_a, orders):
    client = as_user(customer_a)
    r = client.get(V1)
    assert [o["title"] for o in r.json()["results"]] == ["A fan"]
    assert r.json()["results"][0]["next_statuses"] == [] and r.json()["results"][0]["assignee"] is None
    detail = client.get(f"{V1}/{orders['a'].pk}").json()
    assert [c["body"] for c in detail["comments"]] == ["We are on it"]
    assert detail["comments"][0]["author"] == "staff"
    assert [(h["from_status"], h["to_status"]) for h in detail["history"]] == [("", "open"), ("open", "in_progress")]
    assert "internal" not in str(detail)


def test_a_customer_cannot_write(as_user, world, customer_a, orders):
    client = as_user(customer_a)
    pk = orders["a"].pk
    for path, body in (
        (V1, {"site_id": "SITE-X", "title": "please fix"}),
        (f"{V1}/{pk}/transition", {"to": "resolved"}),
        (f"{V1}/{pk}/comments", {"body": "hello", "public": True}),
        (f"{V1}/{pk}/assign", {"assignee": None}),
    ):
        r = post(client, path, body)
        assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN"), path
    assert WorkOrder.objects.get(pk=pk).status == "in_progress"


def test_another_tenants_or_another_sites_order_is_403(as_user, customer_a, noc_y, orders):
    for user, pk in ((customer_a, orders["b"].pk), (customer_a, orders["site"].pk), (noc_y, orders["a"].pk)):
        client = as_user(user)
        assert client.get(f"{V1}/{pk}").status_code == 403
    r = as_user(noc_y).get(V1)
    assert r.json()["results"] == []
    r = post(as_user(noc_y), f"{V1}/{orders['a'].pk}/transition", {"to": "resolved"})
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")
    assert as_user(customer_a).get(f"{V1}/999999").status_code == 403


def test_anonymous_is_401(client):
    assert client.get(V1).status_code == 401


# --- legacy -----------------------------------------------------------------------------------------


def test_legacy_tickets_answer_in_the_original_envelope(as_user, world, noc_x, customer_a, orders):
    client = as_user(noc_x)
    r = post(client, "/hosting/api/tickets", {"site_id": "SITE-X", "subject": "Legacy ticket", "priority": "medium"})
    assert r.status_code == 201 and r.json()["success"] is True
    pk = r.json()["ticket_id"]
    assert WorkOrder.objects.get(pk=pk).priority == "normal"
    r = client.get("/hosting/api/tickets", {"limit": 2})
    assert r.json()["success"] is True and len(r.json()["tickets"]) == 2
    r = client.patch(f"/hosting/api/tickets/{pk}/status", {"status": "in_progress"}, content_type="application/json")
    assert r.json() == {
        "success": True,
        "message": "status updated",
        "ticket_id": pk,
        "old_status": "open",
        "new_status": "in_progress",
    }
    assert client.get(f"/hosting/api/tickets/{pk}").json()["ticket"]["status"] == "in_progress"
    customer = as_user(customer_a)
    assert [t["title"] for t in customer.get("/hosting/api/tickets").json()["tickets"]] == ["A fan"]
    assert customer.get(f"/hosting/api/tickets/{pk}").status_code == 403
