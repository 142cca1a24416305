"""The "Evidence packs" page: a customer requests a pack and downloads it; a long period shows a
progress bar that refreshes; another tenant's page is 403; an operator looks in read-only."""

import pytest
import time_machine

from hosting.models import EvidencePack
from hosting.tests.evidence_data import pack_world
from hosting.tests.test_downtime import m

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")  # packs are stored through the storage API


def page(slug):
    return f"/portal/t/{slug}/evidence/"


@pytest.fixture
def pw(world, noc_x):
    return pack_world(world, noc_x)


def test_a_customer_requests_a_day_and_downloads_it(client, pw, customer_a, django_capture_on_commit_callbacks):
    client.force_login(customer_a)
    slug = pw.world.tenant_a.slug
    body = client.get(page(slug)).content.decode()
    assert 'id="pack-form"' in body and "SITE-X" in body and "SITE-Y" not in body
    assert "Evidence packs</a>" in body  # in the nav
    with time_machine.travel(m(70), tick=False):
        response = client.post(page(slug), {"site": "SITE-X", "date_from": "2026-11-02", "date_to": "2026-11-02"})
    assert response.status_code == 302 and response["Location"] == page(slug)
    pack = EvidencePack.objects.get()
    assert (pack.status, pack.period_start, pack.period_end) == ("ready", m(-600), m(-600 + 24 * 60))
    body = client.get(page(slug)).content.decode()
    assert f"/api/v1/hosting/evidence_packs/{pack.pk}/download" in body
    assert 'http-equiv="refresh"' not in body
    download = client.get(f"/api/v1/hosting/evidence_packs/{pack.pk}/download")
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"


def test_a_long_period_is_queued_and_the_page_refreshes_with_its_progress(
    client, pw, customer_a, django_capture_on_commit_callbacks
):
    client.force_login(customer_a)
    slug = pw.world.tenant_a.slug
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(page(slug), {"site": "SITE-X", "date_from": "2026-11-01", "date_to": "2026-11-03"})
    assert len(callbacks) == 1
    EvidencePack.objects.update(status="building", progress=40, step="collector dark periods")
    body = client.get(page(slug)).content.decode()
    assert '<meta http-equiv="refresh" content="3">' in body
    assert 'aria-valuenow="40"' in body and "width:40%" in body and "collector dark periods" in body


def test_bad_periods_show_the_error_and_request_nothing(client, pw, customer_a):
    client.force_login(customer_a)
    slug = pw.world.tenant_a.slug
    response = client.post(page(slug), {"site": "SITE-X", "date_from": "2026-11-03", "date_to": "2026-11-01"})
    assert response.status_code == 200 and 'id="pack-error"' in response.content.decode()
    response = client.post(page(slug), {"site": "SITE-X", "date_from": "2026-01-01", "date_to": "2026-11-01"})
    assert "longer than 93 days" in response.content.decode()
    assert not EvidencePack.objects.exists()


def test_another_tenants_evidence_page_is_403_for_get_and_post(client, pw, customer_a):
    client.force_login(customer_a)
    slug = pw.world.tenant_b.slug
    assert client.get(page(slug)).status_code == 403
    response = client.post(page(slug), {"site": "SITE-X", "date_from": "2026-11-02", "date_to": "2026-11-02"})
    assert response.status_code == 403
    assert client.get(page("no-such-tenant")).status_code == 403
    assert not EvidencePack.objects.exists()


def test_an_operator_sees_a_tenants_packs_read_only(client, pw, customer_a, noc_x):
    client.force_login(customer_a)
    with time_machine.travel(m(70), tick=False):
        client.post(
            page(pw.world.tenant_a.slug), {"site": "SITE-X", "date_from": "2026-11-02", "date_to": "2026-11-02"}
        )
    client.force_login(noc_x)
    body = client.get(page(pw.world.tenant_a.slug)).content.decode()
    assert 'id="pack-form"' not in body and 'id="operator-banner"' in body and 'data-status="ready"' in body
    response = client.post(
        page(pw.world.tenant_a.slug), {"site": "SITE-X", "date_from": "2026-11-02", "date_to": "2026-11-02"}
    )
    assert response.status_code == 403 and EvidencePack.objects.count() == 1


def test_a_failed_pack_says_why_in_words_on_the_page_the_status_and_the_download(
    client, pw, customer_a, django_capture_on_commit_callbacks
):
    import errno

    from hosting.services.evidence import _storage_error

    client.force_login(customer_a)
    slug = pw.world.tenant_a.slug
    with django_capture_on_commit_callbacks(execute=False):
        for _ in range(2):
            client.post(page(slug), {"site": "SITE-X", "date_from": "2026-11-01", "date_to": "2026-11-03"})
    full, broken = EvidencePack.objects.order_by("pk")
    full_error = _storage_error(OSError(errno.ENOSPC, "No space left on device"))
    EvidencePack.objects.filter(pk=full.pk).update(status="failed", error=full_error)
    EvidencePack.objects.filter(pk=broken.pk).update(status="failed", error="KeyError: 'secret internals'")
    body = client.get(page(slug)).content.decode()
    assert 'data-error-code="STORAGE_FULL">Failed: the pack storage is full, so the pack was not stored' in body
    assert 'data-error-code="PACK_BUILD_FAILED">Failed: the pack could not be built' in body
    assert "secret internals" not in body and "/download" not in body
    status = client.get(f"/api/v1/hosting/evidence_packs/{full.pk}").json()
    assert (status["status"], status["error_code"], status["error"]) == ("failed", "STORAGE_FULL", full_error)
    download = client.get(f"/api/v1/hosting/evidence_packs/{full.pk}/download")
    assert download.status_code == 409 and download.json()["error_code"] == "STORAGE_FULL"
    assert (
        client.get(f"/api/v1/hosting/evidence_packs/{broken.pk}/download").json()["error_code"] == "PACK_BUILD_FAILED"
    )
    hidden = client.get(f"/api/v1/hosting/evidence_packs/{broken.pk}").json()
    assert hidden["error"].startswith("PACK_BUILD_FAILED: the pack could not be built"), hidden
