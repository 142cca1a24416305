"""The admin's Collector status in headless Chromium (fixtures of portal's test_browser): a NOC of
site X opens it from the admin index, sees only site X's collector with its unknown ACKs of the
hour, opens the collector's page (devices, versions, rejected records by code) and follows the
link to the unknown ACKs listed with their bodies."""

import pytest
from django.utils import timezone

from control.models import CommandAck
from portal.tests.test_browser import _login, browser, page  # noqa: F401 — the shared fixtures
from telemetry.tests.live_rows import receipt
from tenants.models import CollectorToken
from tenants.services import collector_token_touch

pytestmark = pytest.mark.django_db(transaction=True)


def _unknown_ack(collector, wire_id, message):
    CommandAck.objects.create(
        wire_id=wire_id,
        collector=collector,
        endpoint="v1",
        received_at=timezone.now(),
        payload={"status": "failed", "result_message": message},
        disposition=CommandAck.Disposition.UNKNOWN,
    )


def test_a_noc_reads_a_dark_sites_collector_and_its_unknown_acks(live_server, page, world, noc_x):  # noqa: F811
    noc_x.email = "noc-x@example.com"
    noc_x.save()
    token = CollectorToken.objects.filter(collector=world.collector_x).first()
    collector_token_touch(token=token, device_id="box-1", resolution_sec=0, user_agent="python-requests/2.34.2")
    receipt(world.collector_x, age_sec=30, rejected=4, rejected_codes={"FUTURE_TIMESTAMP": 4})
    _unknown_ack(world.collector_x, "424201", "MINER_NOT_REGISTERED_ON_EDGE: S21_0404")
    _unknown_ack(world.collector_y, "999901", "site Y's")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _login(page, live_server.url, "noc-x@example.com")
    page.goto(f"{live_server.url}/admin/")
    page.click("a[href='/admin/control/collectorstatus/']")
    page.wait_for_selector("#result_list")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    row = rows.first.inner_text()
    assert "edge-x" in row and "SITE-X" in row
    assert "edge-y" not in page.content()
    rows.first.locator("th a").click()
    page.wait_for_load_state()
    content = page.content()
    for expected in ("box-1", "python-requests/2.34.2", "FUTURE_TIMESTAMP", "424201"):
        assert expected in content
    page.click("text=List them with their bodies")
    page.wait_for_selector("#result_list")
    listed = page.locator("#result_list").inner_text()
    assert "424201" in listed and "MINER_NOT_REGISTERED_ON_EDGE" in listed and "999901" not in listed
    assert errors == []
