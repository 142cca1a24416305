"""In a real headless Chromium: a customer requests an evidence pack of a day on the Evidence packs
page, downloads it, and its own verify.py says PASS; another customer's pack download and portal
page are 403 to them."""

import subprocess
import zipfile
from pathlib import Path

import pytest
from django.test import Client

from hosting.models import EvidencePack
from hosting.tests.evidence_data import pack_world
from hosting.tests.test_evidence_pack import PYTHON
from portal.tests import test_browser as tb

pytestmark = pytest.mark.django_db(transaction=True)
browser, page = tb.browser, tb.page  # the module's Chromium and a fresh context per test


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def test_a_customer_downloads_a_pack_that_verifies_and_not_anothers(
    live_server, page, world, noc_x, customer_a, customer_b, tmp_path
):
    pack_world(world, noc_x)
    customer_a.email = "cust-a@example.com"
    customer_a.save()
    other = Client()
    other.force_login(customer_b)
    form = {"site": "SITE-X", "date_from": "2026-11-02", "date_to": "2026-11-02"}
    assert other.post(f"/portal/t/{world.tenant_b.slug}/evidence/", form).status_code == 302
    b_pack = EvidencePack.objects.get(tenant=world.tenant_b)

    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    tb._login(page, live_server.url, "cust-a@example.com")
    page.click("nav >> text=Evidence packs")
    assert page.url.endswith(f"/portal/t/{world.tenant_a.slug}/evidence/")
    page.select_option("select[name=site]", "SITE-X")
    page.fill("input[name=date_from]", "2026-11-02")
    page.fill("input[name=date_to]", "2026-11-02")
    page.click("#pack-form button[type=submit]")
    page.wait_for_load_state()
    with page.expect_download() as info:
        page.click("text=Download")
    data = Path(info.value.path())
    folder = tmp_path / "pack"
    with zipfile.ZipFile(data) as z:
        z.extractall(folder)
    result = subprocess.run(
        [PYTHON, "-I", "-S", "verify.py"], cwd=folder, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and "PASS" in result.stdout, result.stdout + result.stderr
    for name in world.miners_b_x:
        assert not any(name.miner_id in p.read_text(errors="ignore") for p in folder.rglob("*") if p.is_file())

    denied = page.goto(f"{live_server.url}/api/v1/hosting/evidence_packs/{b_pack.pk}/download")
    assert denied.status == 403
    assert page.goto(f"{live_server.url}/portal/t/{world.tenant_b.slug}/evidence/").status == 403
    assert errors == []
