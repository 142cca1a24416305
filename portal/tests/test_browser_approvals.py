"""In a real headless Chromium: a customer opens Approvals, denies one command and approves another
(a reason required); the approved one is queued for the collector, the denied one rejected; another
tenant's Approvals page is 403 and shows nothing of theirs."""

import pytest

from audit.services import Actor
from control.models import CommandState, ConsentPolicy
from control.services import decisions
from control.tests.factories import operator_command
from portal.tests import test_browser as tb

pytestmark = pytest.mark.django_db(transaction=True)
browser, page = tb.browser, tb.page
S = CommandState


def test_a_customer_approves_and_denies_in_the_portal_and_cannot_open_anothers(
    live_server, page, world, noc_x, ops_manager_x, customer_a, customer_b, settings
):
    settings.COMMAND_BLAST_RADIUS_PCT = 100
    ConsentPolicy.objects.create(tenant=world.tenant_a, consent_types=["set_fan"])
    ConsentPolicy.objects.create(tenant=world.tenant_b, consent_types=["set_fan"])
    go = operator_command(noc_x, world.miners_a_x[0], reason="fan curve")
    stop = operator_command(noc_x, world.miners_a_x[1], reason="try quieter")
    theirs = operator_command(noc_x, world.miners_b_x[0], reason="b's secret plan")
    decisions.command_approve(actor=Actor.user(ops_manager_x), user=ops_manager_x, command=go, reason="ok")
    customer_a.email = "cust-a@example.com"
    customer_a.save()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    tb._login(page, live_server.url, "cust-a@example.com")
    page.click("nav >> text=Approvals")
    assert page.url.endswith(f"/portal/t/{world.tenant_a.slug}/approvals/")
    table = page.locator("#approval-table").inner_text()
    assert world.miners_a_x[0].miner_id in table and world.miners_a_x[1].miner_id in table
    assert world.miners_b_x[0].miner_id not in page.content() and "secret plan" not in page.content()

    # a reason is required: the browser does not send the form without one
    page.click(f"tr[data-command='{stop.pk}'] button[value=deny]")
    stop.refresh_from_db()
    assert stop.state == S.PROPOSED
    page.fill(f"tr[data-command='{stop.pk}'] input[name=reason]", "not during the day")
    page.click(f"tr[data-command='{stop.pk}'] button[value=deny]")
    page.wait_for_load_state()
    assert f"Command #{stop.pk} denied." in page.content()
    page.fill(f"tr[data-command='{go.pk}'] input[name=reason]", "fine")
    page.click(f"tr[data-command='{go.pk}'] button[value=approve]")
    page.wait_for_load_state()
    assert f"Command #{go.pk} approved." in page.content()
    assert page.locator("#approval-table").count() == 0  # nothing waits any more
    go.refresh_from_db()
    stop.refresh_from_db()
    assert (go.state, go.owner_approved_by_id) == (S.QUEUED, customer_a.pk)
    assert (stop.state, stop.owner_decided_reason) == (S.REJECTED, "not during the day")

    response = page.goto(f"{live_server.url}/portal/t/{world.tenant_b.slug}/approvals/")
    assert response.status == 403
    assert world.miners_b_x[0].miner_id not in page.content() and "secret plan" not in page.content()
    theirs.refresh_from_db()
    assert theirs.state == S.PROPOSED
    assert errors == []


def test_a_customer_requests_an_action_and_approves_a_whole_batch_in_the_portal(
    live_server, page, world, noc_x, customer_a, customer_b, settings
):
    from control.models import Command
    from control.services import creation

    settings.COMMAND_BLAST_RADIUS_PCT = 100
    ConsentPolicy.objects.create(tenant=world.tenant_a, consent_types=["set_fan"], customer_types=["reboot", "set_fan"])
    ConsentPolicy.objects.create(tenant=world.tenant_b, consent_types=["set_fan"], customer_types=["reboot"])
    batch = creation.command_batch_create(
        actor=Actor.user(noc_x),
        user=noc_x,
        miners=world.miners_a_x[1:],
        command_type="set_fan",
        params={"speed": 55},
        reason="night profile",
    )
    customer_a.email = "cust-a@example.com"
    customer_a.save()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    tb._login(page, live_server.url, "cust-a@example.com")
    page.goto(f"{live_server.url}/portal/t/{world.tenant_a.slug}/approvals/")

    form = page.locator("#request-form")
    assert form.locator("select[name=command_type] option").all_inner_texts() == ["Reboot", "Set fan"]
    form.locator("select[name=site]").select_option("SITE-X")
    form.locator("input[name=miner_id]").fill(world.miners_b_x[0].miner_id)  # tenant B's miner at the shared site
    form.locator("input[name=reason]").fill("stuck")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "is not one of your miners" in page.content()
    assert not Command.objects.filter(created_by=customer_a).exists()

    form = page.locator("#request-form")
    form.locator("input[name=miner_id]").fill(world.miners_a_x[0].miner_id)
    form.locator("select[name=command_type]").select_option("reboot")
    form.locator("input[name=reason]").fill("hashrate dropped")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    mine = Command.objects.get(created_by=customer_a)
    assert f"Request #{mine.pk} sent" in page.content()
    assert (mine.state, mine.command_type, mine.owner_approved_by_id) == (S.PROPOSED, "reboot", customer_a.pk)
    assert "hashrate dropped" in page.locator("#my-requests").inner_text()

    first = min(batch.created, key=lambda c: c.pk)
    row = page.locator(f"#approval-table tr[data-command='{first.pk}']")
    row.locator("input[name=reason]").fill("fine at night")
    row.locator("button[value=approve_batch]").click()
    page.wait_for_load_state()
    assert "2 commands of the batch approved." in page.content()
    assert {c.owner_approved_by_id for c in Command.objects.filter(batch_id=batch.batch_id)} == {customer_a.pk}

    response = page.goto(f"{live_server.url}/portal/t/{world.tenant_b.slug}/approvals/")
    assert response.status == 403
    assert page.locator("#request-form").count() == 0
    assert errors == []


def test_the_request_forms_miner_picker_offers_only_own_miners_and_refuses_anothers(
    live_server, page, world, customer_a, settings
):
    from audit.models import AuditEvent
    from control.models import Command

    settings.COMMAND_BLAST_RADIUS_PCT = 100
    ConsentPolicy.objects.create(tenant=world.tenant_a, customer_types=["reboot"])
    ConsentPolicy.objects.create(tenant=world.tenant_b, customer_types=["reboot"])
    customer_a.email = "cust-a@example.com"
    customer_a.save()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    tb._login(page, live_server.url, "cust-a@example.com")
    page.goto(f"{live_server.url}/portal/t/{world.tenant_a.slug}/approvals/")
    form = page.locator("#request-form")
    assert form.locator("select[name=command_type] option").all_inner_texts() == ["Reboot"]

    # every miner id at the shared site starts S21_: the picker offers tenant A's only
    form.locator("select[name=site]").select_option("SITE-X")
    form.locator("#request-miner").fill("S21_")
    page.wait_for_function("document.querySelectorAll('#miner-options option').length === 3")
    offered = page.eval_on_selector_all("#miner-options option", "els => els.map(e => e.value)")
    assert offered == sorted(m.miner_id for m in world.miners_a_x)
    assert page.locator("#miner-hint").inner_text() == "3 miners match."
    theirs = world.miners_b_x[0].miner_id
    form.locator("#request-miner").fill(theirs)
    page.wait_for_function("document.querySelectorAll('#miner-options option').length === 0")
    assert "None of your miners" in page.locator("#miner-hint").inner_text()

    # typed anyway, then forced (a site option and a miner of tenant B's own site): refused, audited
    form.locator("input[name=reason]").fill("stuck")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert f"{theirs} is not one of your miners at SITE-X." in page.content()
    with page.expect_navigation():
        page.evaluate(
            """([site, miner]) => {
                const form = document.getElementById('request-form');
                form.querySelector('select[name=site]').add(new Option(site, site, true, true));
                form.querySelector('input[name=miner_id]').value = miner;
                form.querySelector('input[name=reason]').value = 'forced';
                form.submit();
            }""",
            ["SITE-Y", world.miners_b_y[0].miner_id],
        )
    assert f"{world.miners_b_y[0].miner_id} is not one of your miners at SITE-Y." in page.content()
    assert not Command.objects.exists()
    assert AuditEvent.objects.filter(action="control.command.proposal_refused").count() == 2

    # picked from the list: sent, and listed under the customer's requests
    mine = world.miners_a_x[1].miner_id
    form = page.locator("#request-form")
    form.locator("#request-miner").fill(mine[:-1])
    page.wait_for_function(f"[...document.querySelectorAll('#miner-options option')].some(o => o.value === '{mine}')")
    form.locator("#request-miner").fill(mine)
    page.keyboard.press("Escape")  # close the datalist's popup, which may lie over the button
    form.locator("input[name=reason]").fill("hashrate dropped")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    command = Command.objects.get(created_by=customer_a)
    assert f"Request #{command.pk} sent" in page.content()
    row = page.locator(f"#my-requests tr[data-command='{command.pk}']").inner_text()
    assert mine in row and "hashrate dropped" in row and command.miner.miner_id == mine
    assert errors == []
