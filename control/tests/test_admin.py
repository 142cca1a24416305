"""The NOC console for commands: the scoped queue with waiting reasons, approve/reject/cancel/
rollback as gated actions with a reason and a confirmation page, a read-only timeline page."""

import datetime as dt

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from audit.services import Actor
from control.models import (
    Command,
    CommandAck,
    CommandAttempt,
    CommandState,
    PriorityClass,
)
from control.services import decisions
from control.tests.factories import ControlCommandFactory
from control.tests.factories import operator_command as make

pytestmark = pytest.mark.usefixtures("no_blast_radius_cap")
S = CommandState
CHANGELIST = reverse("admin:control_command_changelist")


def change(pk):
    return reverse("admin:control_command_change", args=[pk])


def act(client, action, commands, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [c.pk for c in commands], **extra}
    return client.post(CHANGELIST, data)


def test_the_queue_shows_own_site_commands_with_their_waiting_reason(
    as_user, world, noc_x, noc_y, django_assert_num_queries
):
    safety = make(noc_x, world.miners_a_x[0], priority_class=PriorityClass.SAFETY)
    waiting = make(
        noc_x, world.miners_a_x[0], "set_frequency", params={"frequency": 600}, priority_class=PriorityClass.EFFICIENCY
    )
    make(noc_x, world.miners_a_x[1], "reboot")
    theirs = make(noc_y, world.miners_b_y[0], "set_fan")
    client = as_user(noc_x)
    client.get(CHANGELIST)
    # session, user, grants, the site filter's choices, the rows: no query per row
    with django_assert_num_queries(6):
        r = client.get(CHANGELIST)
    html = r.content.decode()
    assert r.status_code == 200
    assert f"blocked by #{safety.pk} (Safety)" in html and "awaiting approval" in html
    assert change(waiting.pk) in html and change(theirs.pk) not in html
    assert world.miners_b_y[0].miner_id not in html
    # more rows, same queries
    for m in world.miners_b_x:
        make(noc_x, m)
    with django_assert_num_queries(6):
        client.get(CHANGELIST)


def test_the_queue_filters_by_state_and_type(as_user, world, noc_x):
    queued, proposed = make(noc_x, world.miners_a_x[0]), make(noc_x, world.miners_a_x[1], "reboot")
    html = (
        as_user(noc_x).get(CHANGELIST, {"state__exact": "proposed", "command_type__exact": "reboot"}).content.decode()
    )
    assert change(proposed.pk) in html and change(queued.pk) not in html


def test_customers_never_reach_the_queue(as_user, world, noc_x, customer_a):
    c = make(noc_x, world.miners_a_x[0])
    client = as_user(customer_a)
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(change(c.pk)).status_code == 403


def test_approve_asks_for_a_reason_on_a_confirmation_page_then_approves(as_user, world, noc_x, ops_manager_x):
    c = make(noc_x, world.miners_a_x[0], "reboot", reason="stuck")
    client = as_user(ops_manager_x)
    page = act(client, "approve", [c])
    assert (
        page.status_code == 200
        and "Approve these commands?" in page.content.decode()
        and 'name="reason"' in page.content.decode()
    )
    assert Command.objects.get(pk=c.pk).state == S.PROPOSED
    assert act(client, "approve", [c], apply="1").status_code == 200  # no reason: the form again
    assert Command.objects.get(pk=c.pk).state == S.PROPOSED
    r = act(client, "approve", [c], apply="1", reason="checked")
    assert r.status_code == 302
    c.refresh_from_db()
    assert (c.state, c.approved_by_id, c.decided_reason) == (S.QUEUED, ops_manager_x.pk, "checked")


def test_self_approval_in_the_console_is_refused_with_a_message(as_user, world, noc_x):
    c = make(noc_x, world.miners_a_x[0], "reboot")
    r = act(as_user(noc_x), "approve", [c], apply="1", reason="me")
    messages = [str(m) for m in r.wsgi_request._messages]
    assert any("SELF_APPROVAL" in m for m in messages)
    assert Command.objects.get(pk=c.pk).state == S.PROPOSED


def test_reject_cancel_and_rollback_actions_call_the_services(as_user, world, noc_x, ops_manager_x):
    proposed = make(noc_x, world.miners_a_x[0], "reboot")
    queued = make(noc_x, world.miners_a_x[1])
    done = ControlCommandFactory(miner=world.miners_a_x[2], command_type="disable_hashing", state=S.SUCCEEDED)
    client = as_user(ops_manager_x)
    act(client, "reject", [proposed], apply="1", reason="not now")
    act(client, "cancel", [queued], apply="1", reason="typo")
    act(client, "rollback", [done], apply="1", reason="undo")
    states = dict(Command.objects.values_list("pk", "state"))
    assert (states[proposed.pk], states[queued.pk], states[done.pk]) == (S.REJECTED, S.CANCELED, S.ROLLED_BACK)
    assert Command.objects.get(rollback_of=done).command_type == "enable_hashing"


def test_actions_never_touch_another_sites_commands(as_user, world, noc_x, noc_y):
    theirs = make(noc_y, world.miners_b_y[0])
    act(as_user(noc_x), "cancel", [theirs], apply="1", reason="x")
    assert Command.objects.get(pk=theirs.pk).state == S.QUEUED


def test_a_technician_gets_no_approve_action(as_user, world):
    from tenants.models import Role
    from tenants.services import role_grant_create
    from tests.factories import UserFactory

    tech = UserFactory(username="tech-x")
    role_grant_create(actor=Actor.system("test"), user=tech, role=Role.TECHNICIAN, site=world.site_x)
    html = as_user(tech).get(CHANGELIST).content.decode()
    assert 'value="cancel"' in html and 'value="approve"' not in html


def test_the_change_page_is_a_read_only_timeline(as_user, world, noc_x, ops_manager_x):
    c = make(noc_x, world.miners_a_x[0], "reboot", reason="stuck")
    decisions.command_approve(actor=Actor.user(ops_manager_x), user=ops_manager_x, command=c, reason="checked")
    now = timezone.now()
    CommandAttempt.objects.create(
        command=c,
        attempt=1,
        wire_id=str(c.pk),
        lease_epoch=1,
        collector=world.collector_x,
        device_id="dev-1",
        leased_at=now,
        lease_until=now + dt.timedelta(minutes=5),
        ack_status="completed",
    )
    CommandAck.objects.create(
        command=c,
        wire_id=str(c.pk),
        collector=world.collector_x,
        device_id="dev-1",
        endpoint="v1",
        received_at=now,
        payload={"status": "completed", "message": "CGMiner restarted"},
        disposition="first",
    )
    client = as_user(noc_x)
    html = client.get(change(c.pk)).content.decode()
    for text in (
        "control.command.created",
        "control.command.approved",
        "control.command.queued",
        "opsmgr-x",
        "checked",
        "dev-1",
        "CGMiner restarted",
    ):
        assert text in html, text
    assert 'name="_save"' not in html and 'name="state"' not in html
    assert client.post(change(c.pk), {"state": "succeeded"}).status_code == 403
    assert Command.objects.get(pk=c.pk).state == S.QUEUED


def test_another_sites_command_page_is_403_like_a_missing_one(as_user, world, noc_x, noc_y):
    theirs = make(noc_y, world.miners_b_y[0])
    client = as_user(noc_x)
    assert client.get(change(theirs.pk)).status_code == 403
    assert client.get(change(999999)).status_code == 403
