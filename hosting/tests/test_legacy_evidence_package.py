"""The original site page's GET /hosting/api/sites/<site_id>/evidence-package over the hosting evidence
pack: one pack per tenant that owned miners at the site (built in the request for a day, by a worker
for longer), the zip of a one-pack package, the 400s of its dates, and cross-site isolation."""

import datetime as dt
import io
import zipfile

import pytest

from audit.models import AuditEvent
from hosting.models import EvidencePack, EvidencePackStatus
from tenants.models import MinerOwnership

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def _owned_since_last_year(world):
    MinerOwnership.objects.update(valid_from=dt.datetime(2025, 12, 1, tzinfo=dt.UTC))


def url(site) -> str:
    return f"/hosting/api/sites/{site.pk}/evidence-package"


def test_a_day_of_the_site_is_one_ready_pack_per_tenant(as_user, world, noc_x):
    r = as_user(noc_x).get(url(world.site_x), {"start_date": "2026-12-01", "end_date": "2026-12-01"})
    assert r.status_code == 200, r.content[:500]
    body = r.json()
    assert body["success"] is True
    package = body["package"]
    assert (package["site_id"], package["site_code"], package["status"]) == (world.site_x.pk, "SITE-X", "ready")
    assert (package["start_date"], package["end_date"]) == ("2026-12-01", "2026-12-01")
    assert sorted(p["tenant"] for p in package["packs"]) == ["tenant-a", "tenant-b"]
    assert all(p["status"] == "ready" and p["download_url"] for p in package["packs"])
    assert EvidencePack.objects.filter(site=world.site_x, status=EvidencePackStatus.READY).count() == 2
    assert AuditEvent.objects.filter(action="hosting.evidence_pack.requested").count() == 2


def test_format_zip_answers_the_zip_of_one_tenants_pack(as_user, world, noc_x):
    client = as_user(noc_x)
    day = {"start_date": "2026-12-01", "end_date": "2026-12-01"}
    r = client.get(url(world.site_x), {**day, "format": "zip", "tenant": "tenant-a"})
    assert r.status_code == 200 and r["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(b"".join(r.streaming_content))).namelist()
    assert "manifest.json" in names
    r = client.get(url(world.site_x), {**day, "format": "zip"})
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER")


def test_a_longer_period_is_queued_for_a_worker(as_user, world, noc_x, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        r = as_user(noc_x).get(
            url(world.site_x), {"start_date": "2026-11-01", "end_date": "2026-11-07", "tenant": "tenant-b"}
        )
    assert r.status_code == 202, r.json()
    assert r.json()["package"]["status"] == "queued" and len(callbacks) == 1
    assert r.json()["package"]["packs"][0]["status_url"].startswith("/api/v1/hosting/evidence_packs/")


def test_bad_dates_and_another_site_answer_400_and_403(as_user, world, noc_x, customer_a):
    client = as_user(noc_x)
    r = client.get(url(world.site_x), {"start_date": "2026-12-05", "end_date": "2026-12-01"})
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER")
    r = client.get(url(world.site_x), {"start_date": "2026-01-01", "end_date": "2026-12-01"})
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER")
    for path in (url(world.site_y), "/hosting/api/sites/999999/evidence-package"):
        r = client.get(path, {"start_date": "2026-12-01", "end_date": "2026-12-01"})
        assert (r.status_code, r.json()["error_code"], r.json()["success"]) == (403, "FORBIDDEN", False)
    assert as_user(customer_a).get(url(world.site_x)).status_code == 403
    assert not EvidencePack.objects.exists()
