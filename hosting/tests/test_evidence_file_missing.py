"""A ready evidence pack whose stored file is gone (deleted from the pack storage): every download
answers 410 PACK_FILE_MISSING — the API, the legacy package's zip, the portal's link — never a 500;
the pack turns failed once (one audit event, one count of evidence_pack_files_missing_total, however
many downloads race), the portal page says so and requests a new one; another customer's pack id
answers what a missing id answers, not 410."""

import threading

import pytest
import time_machine
from django.core.files.storage import FileSystemStorage
from django.test import Client
from prometheus_client import REGISTRY

from audit.models import AuditEvent
from core.tests.threads import run_threads
from hosting.models import EvidencePack
from hosting.models.evidence import evidence_storage
from hosting.tests.evidence_data import pack_world, unzip
from hosting.tests.test_downtime import m

pytestmark = pytest.mark.django_db

URL = "/api/v1/hosting/evidence_pack"
DAY = {"site_id": "SITE-X", "from": "2026-11-02T10:00:00Z", "to": "2026-11-02T11:00:00Z"}
GONE_WORDS = "the pack&#x27;s file is no longer in the pack storage"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def pw(world, noc_x):
    return pack_world(world, noc_x)


def missing_count() -> float:
    return REGISTRY.get_sample_value("evidence_pack_files_missing_total") or 0.0


def failed_events(pack) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="hosting.evidence_pack.failed", entity_id=str(pack.pk)))


def ready_pack(client, user) -> EvidencePack:
    client.force_login(user)
    with time_machine.travel(m(70), tick=False):
        response = client.get(URL, DAY)
    assert response.status_code == 200, response.content[:300]
    pack = EvidencePack.objects.get(status="ready")
    assert unzip(b"".join(response.streaming_content))  # a real zip was stored and served
    return pack


def delete_file(pack: EvidencePack) -> None:
    storage = evidence_storage()
    assert storage.exists(pack.file.name)
    storage.delete(pack.file.name)


def download(client, pack):
    return client.get(f"/api/v1/hosting/evidence_packs/{pack.pk}/download")


def test_a_ready_pack_without_its_file_answers_410_and_turns_failed_once(client, pw, customer_a):
    pack = ready_pack(client, customer_a)
    name, digest = pack.file.name, pack.sha256
    delete_file(pack)
    before = missing_count()
    response = download(client, pack)
    assert response.status_code == 410, response.content[:300]
    body = response.json()
    assert (body["success"], body["error_code"], body["status"], body["id"]) == (
        False,
        "PACK_FILE_MISSING",
        "failed",
        pack.pk,
    )
    assert "no longer in the pack storage" in body["error"]
    pack.refresh_from_db()
    assert (pack.status, pack.error_code, pack.file.name, pack.sha256) == ("failed", "PACK_FILE_MISSING", "", digest)
    status = client.get(f"/api/v1/hosting/evidence_packs/{pack.pk}").json()
    assert (status["status"], status["error_code"], status["download_url"]) == ("failed", "PACK_FILE_MISSING", None)
    assert status["error"].startswith("PACK_FILE_MISSING: the pack's file is no longer in the pack storage")
    (event,) = failed_events(pack)
    assert (event.actor_label, event.payload["error"], event.payload["file"], event.payload["sha256"]) == (
        customer_a.username,
        "PACK_FILE_MISSING",
        name,
        digest,
    )
    assert event.tenant_id == pw.world.tenant_a.pk
    assert missing_count() == before + 1
    # Later downloads say the same, and change nothing more.
    again = download(client, pack)
    assert (again.status_code, again.json()["error_code"]) == (410, "PACK_FILE_MISSING")
    assert len(failed_events(pack)) == 1 and missing_count() == before + 1
    # The answer names the request of a new pack of the same period, which builds one.
    with time_machine.travel(m(80), tick=False):
        fresh = client.get(body["request_url"])
    assert fresh.status_code == 200 and fresh["Content-Type"] == "application/zip"
    assert EvidencePack.objects.filter(status="ready").exclude(pk=pack.pk).count() == 1


def test_a_file_gone_before_the_request_serves_it_answers_410_not_500(client, pw, customer_a, monkeypatch):
    """The request's own pack, built, then its file gone before it is served (a cleanup racing it)."""
    from hosting import api_evidence
    from hosting.services.evidence import evidence_pack_build

    def build_then_lose(*, pack_id, session_lock):
        built = evidence_pack_build(pack_id=pack_id, session_lock=session_lock)
        delete_file(built)
        return built

    monkeypatch.setattr(api_evidence, "evidence_pack_build", build_then_lose)
    client.force_login(customer_a)
    with time_machine.travel(m(70), tick=False):
        response = client.get(URL, DAY)
    assert (response.status_code, response.json()["error_code"]) == (410, "PACK_FILE_MISSING")
    assert EvidencePack.objects.get().status == "failed"


def test_the_legacy_package_zip_of_a_pack_whose_file_is_gone_answers_410(as_user, pw, noc_x, monkeypatch):
    from hosting import api_evidence_legacy

    real = api_evidence_legacy.pack_build_or_queue

    def build_then_lose(pack):
        built = real(pack)
        delete_file(built)
        return built

    monkeypatch.setattr(api_evidence_legacy, "pack_build_or_queue", build_then_lose)
    before = missing_count()
    client = as_user(noc_x)
    with time_machine.travel(m(70), tick=False):
        response = client.get(
            f"/hosting/api/sites/{pw.world.site_x.pk}/evidence-package",
            {"start_date": "2026-11-02", "end_date": "2026-11-02", "tenant": "tenant-a", "format": "zip"},
        )
    assert response.status_code == 410, response.content[:300]
    assert (response.json()["success"], response.json()["error_code"]) == (False, "PACK_FILE_MISSING")
    pack = EvidencePack.objects.get()
    assert pack.status == "failed" and len(failed_events(pack)) == 1
    assert failed_events(pack)[0].actor_label == noc_x.username
    assert missing_count() == before + 1


def test_the_portal_page_shows_the_missing_file_and_requests_a_new_pack(client, pw, customer_a):
    client.force_login(customer_a)
    page = f"/portal/t/{pw.world.tenant_a.slug}/evidence/"
    with time_machine.travel(m(70), tick=False):
        client.post(page, {"site": "SITE-X", "date_from": "2026-11-02", "date_to": "2026-11-02"})
    pack = EvidencePack.objects.get(status="ready")
    link = f"/api/v1/hosting/evidence_packs/{pack.pk}/download"
    assert link in client.get(page).content.decode()
    delete_file(pack)
    assert client.get(link).status_code == 410  # the page's own link
    body = client.get(page).content.decode()
    assert link not in body
    assert f'data-error-code="PACK_FILE_MISSING">Failed: {GONE_WORDS}' in body
    assert f'class="pack-again" data-pack="{pack.pk}"' in body
    for field, value in (("site", "SITE-X"), ("date_from", "2026-11-02"), ("date_to", "2026-11-02")):
        assert f'name="{field}" value="{value}"' in body
    with time_machine.travel(m(80), tick=False):
        response = client.post(page, {"site": "SITE-X", "date_from": "2026-11-02", "date_to": "2026-11-02"})
    assert response.status_code == 302
    new = EvidencePack.objects.exclude(pk=pack.pk).get()
    assert (new.status, new.period_start, new.period_end) == ("ready", pack.period_start, pack.period_end)
    assert f"/api/v1/hosting/evidence_packs/{new.pk}/download" in client.get(page).content.decode()


def test_another_customers_pack_id_answers_like_a_missing_one_not_410(client, pw, customer_a, customer_b):
    pack = ready_pack(client, customer_a)
    delete_file(pack)
    before = missing_count()
    client.force_login(customer_b)
    theirs, nothing = download(client, pack), client.get("/api/v1/hosting/evidence_packs/999999/download")
    assert (theirs.status_code, theirs.json()) == (nothing.status_code, nothing.json())
    assert theirs.status_code == 403 and theirs.json()["error_code"] == "FORBIDDEN"
    pack.refresh_from_db()
    assert pack.status == "ready" and failed_events(pack) == [] and missing_count() == before
    page = client.get(f"/portal/t/{pw.world.tenant_a.slug}/evidence/")
    assert page.status_code == 403


ROUNDS, THREADS = 4, 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_downloads_of_a_pack_whose_file_is_gone_make_one_transition(pw, customer_a, monkeypatch):
    """Real threads, each with its own connection: all of them read the pack ready and fail to open its
    file before any marks it (a barrier in the storage's open); one UPDATE wins, one audit event."""
    pack = ready_pack(Client(), customer_a)
    name = pack.file.name
    delete_file(pack)
    real_open = FileSystemStorage.open
    state = {}

    def open_together(self, *args, **kwargs):
        state["barrier"].wait(timeout=30)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(FileSystemStorage, "open", open_together)
    before = missing_count()
    for round_ in range(ROUNDS):
        # The same pack made ready again (its file still gone): each round races a fresh transition.
        EvidencePack.objects.filter(pk=pack.pk).update(status="ready", error="", file=name, step="ready")
        state["barrier"] = threading.Barrier(THREADS)
        answers: list = []

        def fetch(answers=answers):
            client = Client()
            client.force_login(customer_a)
            r = download(client, pack)
            answers.append((r.status_code, r.json()["error_code"]))

        errors = run_threads(*[fetch] * THREADS)
        assert errors == [], errors
        assert answers == [(410, "PACK_FILE_MISSING")] * THREADS, round_
        assert len(failed_events(pack)) == round_ + 1, round_
        assert missing_count() == before + round_ + 1
    assert EvidencePack.objects.get(pk=pack.pk).status == "failed"
