"""Fault matrix, the pack storage full, through the paths people use (docs/OPERATIONS.md "Fault
matrix"): a customer requests packs over HTTP (API with their personal token, and the portal page in
a real Chromium) while MEDIA_ROOT is a full 1 MiB tmpfs; the stack's own Celery worker builds the
long one. Every answer says STORAGE_FULL in words a person reads, nothing is stored, no zip (whole or
partial) is ever served, and with space again the same request builds. A pack that was ready before
the disk filled is still served whole: reading it needs no space."""

import datetime as dt
import hashlib

import pytest
import requests

from hashinsight.tests import procs
from hashinsight.tests.faults.stack import Collector, fill_up, record, seed_site
from portal.tests import test_browser as tb

pytestmark = [pytest.mark.slow, pytest.mark.fault]
browser, page = tb.browser, tb.page  # Debian's Chromium (module-wide) and a fresh context per test

SITE, TENANT, EMAIL, MINERS = "F-STORE", "f-store", "store-customer@example.com", 5
FULL = "STORAGE_FULL: the pack storage is full"

CUSTOMER = f"""
from audit.services import Actor
from tenants.models import Role, Site
from tenants.personal_tokens import personal_token_create
from tenants.services import role_grant_create
from tests.factories import MinerFactory, TenantFactory, UserFactory
site = Site.objects.get(code={SITE!r})
tenant = TenantFactory(slug={TENANT!r}, name="Store Co")
for m in range({MINERS}):
    MinerFactory(site=site, tenant=tenant, miner_id="STORE_%03d" % m)
user = UserFactory(username="store-customer", email={EMAIL!r})
actor = Actor.system("test.faults")
role_grant_create(actor=actor, user=user, role=Role.CUSTOMER, tenant=tenant)
_, token = personal_token_create(actor=actor, user=user, name="faults", expires_in_days=1)
print("API=" + token)
"""


def _iso(ts: dt.datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _request(api: requests.Session, base: str, start: dt.datetime, end: dt.datetime) -> requests.Response:
    params = {"site_id": SITE, "from": _iso(start), "to": _iso(end)}
    return api.get(f"{base}/api/v1/hosting/evidence_pack", params=params, timeout=60)


def _json(response: requests.Response) -> dict:
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    return response.json()


def _pack_events(stack, action: str) -> int:
    return stack.pg.scalar("SELECT count(*) FROM audit_auditevent WHERE action = %s", [action])


def test_a_full_pack_storage_over_http_says_storage_full_everywhere_and_serves_no_zip(stack, tiny_media, page):
    collector_token = seed_site(stack, SITE)
    out = stack.shell(CUSTOMER)
    api = requests.Session()
    api.headers["Authorization"] = "Bearer " + next(line[4:] for line in out.splitlines() if line.startswith("API="))
    web, worker = stack.gunicorn(), stack.worker()
    base = f"http://127.0.0.1:{web.port}"
    collector = Collector(web.port, collector_token, SITE)
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    for minute in range(30, 0, -1):
        assert collector.send([record(f"STORE_{m:03d}", now - dt.timedelta(minutes=minute)) for m in range(MINERS)])
    end = now.replace(minute=0) + dt.timedelta(hours=1)

    # Two days: queued (202), built by the stack's worker onto the full storage, which fails it.
    queued = _request(api, base, end - dt.timedelta(days=2), end)
    assert queued.status_code == 202, queued.text
    status_url = base + _json(queued)["status_url"]
    procs.wait_until(
        lambda: api.get(status_url, timeout=10).json()["status"] == "failed", timeout=90, proc=worker, what="failed"
    )
    status = _json(api.get(status_url, timeout=10))
    assert status["error_code"] == "STORAGE_FULL" and status["error"].startswith(FULL), status
    assert (status["download_url"], status["sha256"], status["size"]) == (None, "", None)
    download = api.get(status_url + "/download", timeout=10)
    assert download.status_code == 409
    refused = _json(download)
    assert refused["error_code"] == "STORAGE_FULL" and refused["status"] == "failed"
    assert refused["error"].startswith("the pack failed: the pack storage is full"), refused

    # A day: built in the request, on the full storage — 507 STORAGE_FULL with the failed pack, not a zip.
    in_request = _request(api, base, end - dt.timedelta(days=1), end)
    assert in_request.status_code == 507, in_request.text[:300]
    body = _json(in_request)
    assert body["error_code"] == "STORAGE_FULL" and body["status"] == "failed" and body["error"].startswith(FULL)
    assert not list(tiny_media.rglob("*.zip"))  # nothing stored, whole or partial
    assert _pack_events(stack, "hosting.evidence_pack.failed") == 2

    # The customer's portal page says it too, in words: the list, and a day requested on the page.
    tb._login(page, base, EMAIL)
    page.goto(f"{base}/portal/t/{TENANT}/evidence/")
    failures = page.locator("#pack-table tr[data-status=failed] .pack-failure")
    assert failures.count() == 2
    assert failures.first.get_attribute("data-error-code") == "STORAGE_FULL"
    assert "the pack storage is full" in failures.first.inner_text()
    today = now.date().isoformat()
    page.select_option("select[name=site]", SITE)
    page.fill("input[name=date_from]", today)
    page.fill("input[name=date_to]", today)
    page.click("#pack-form button[type=submit]")
    page.wait_for_load_state()
    assert "failed: the pack storage is full" in page.locator("#pack-error").inner_text()
    assert page.locator("#pack-table a", has_text="Download").count() == 0
    assert not list(tiny_media.rglob("*.zip"))

    # Space again: the same request builds and answers the zip.
    (tiny_media / "filler").unlink()
    ready = _request(api, base, end - dt.timedelta(days=1), end)
    assert ready.status_code == 200 and ready.headers["Content-Type"] == "application/zip", ready.text[:300]
    digest = ready.headers["X-Evidence-Pack-SHA256"]
    assert hashlib.sha256(ready.content).hexdigest() == digest

    # The disk full again while that ready pack is downloaded: served whole (a read needs no space).
    fill_up(tiny_media, leave=0, name="filler-again")
    again = api.get(f"{base}/api/v1/hosting/evidence_packs/{ready.headers['X-Evidence-Pack-Id']}/download", timeout=30)
    assert again.status_code == 200 and int(again.headers["Content-Length"]) == len(again.content)
    assert hashlib.sha256(again.content).hexdigest() == digest
    stack.verify_audit_chain()
