"""Encrypted envelopes (`payload_enc`, COLLECTOR_PROTOCOL §2.3) through the real HTTP stack: an
encrypted batch before and after its collector's key is registered, what a wrong key or an
altered ciphertext does, the key at rest, its audit trail, and who sees the quarantine."""

import base64
import io
import json
import os

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from prometheus_client import REGISTRY

from audit.models import AuditEvent
from conftest import SETUP, grant
from core.sealing import SealedValueUnreadable, SealingUnavailable, unseal
from telemetry.models import CollectorPayloadKey, IngestBatch, QuarantinedBatch, TelemetryRaw
from telemetry.payload_keys import payload_key_clear, payload_key_generate, payload_key_set, payload_keys_for
from telemetry.quarantine import quarantine_drain
from telemetry.tasks import telemetry_quarantine_drain_task
from telemetry.tests.ingest_fixtures import CAPTURE_NOW, gz, post, record
from tenants.models import Role
from tenants.services import collector_token_create
from tests.factories import CollectorFactory, SiteFactory, UserFactory

V1 = "/api/edge/v1/telemetry/batch"
NOW = CAPTURE_NOW.replace(tzinfo=None)
KEY = bytes(range(32))
OTHER_KEY = bytes(range(100, 132))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def sealed(records: list, key: bytes) -> dict:
    """payload_enc exactly as the collector builds it: AES-256-GCM, random 12-byte nonce, no
    associated data, JSON of the records list (ensure_ascii=False), base64url without padding."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, json.dumps(records, ensure_ascii=False).encode("utf-8"), None)
    return {"v": 1, "alg": "AES-256-GCM", "nonce_b64": b64url(nonce), "ciphertext_b64": b64url(ciphertext)}


def envelope(edge, records: list, key: bytes = KEY, **payload_enc) -> bytes:
    """gzip of a telemetry_envelope.v1 carrying payload_enc instead of records (§2.3)."""
    return gz(
        {
            "schema": "telemetry_envelope.v1",
            "site_id": edge.site.code,
            "zone_id": "",
            "device_id": edge.device_id,
            "sent_at": "2026-11-24T16:45:30Z",
            "mode": "raw",
            "record_count": len(records),
            "source_seq_start": 0,
            "source_seq_end": 0,
            "compression": "gzip",
            "payload_enc": {**sealed(records, key), **payload_enc},
        }
    )


def fleet(n: int, minutes_ago: float = 1, start: int = 1) -> list[dict]:
    import datetime as dt

    ts = NOW - dt.timedelta(minutes=minutes_ago)
    return [record(f"S21_{i:04d}", ts) for i in range(start, start + n)]


def send(client, edge, body: bytes, status: int = 200, **options) -> dict:
    response = post(client, edge, body, path=V1, **options)
    assert response.status_code == status, response.content
    return response.json()


def _sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def raw_count(edge) -> int:
    return TelemetryRaw.objects.filter(site=edge.site).count()


def drain(edge) -> dict:
    """What the worker runs when the key is registered (the task body, called in-process)."""
    return telemetry_quarantine_drain_task(collector_id=edge.collector.pk)


# --- after the key -------------------------------------------------------------------------------


def test_an_encrypted_batch_is_ingested_like_a_clear_one_once_its_key_is_registered(client, edge):
    payload_key_set(actor=SETUP, collector=edge.collector, key=KEY)
    answer = send(client, edge, envelope(edge, fleet(3)))
    assert answer["success"] is True and "quarantined" not in answer
    assert (answer["received"], answer["accepted"], answer["rejected"], answer["duplicates"]) == (3, 3, 0, 0)
    assert raw_count(edge) == 3
    receipt = IngestBatch.objects.get(pk=answer["batch_id"])
    assert receipt.body_format == "encrypted" and receipt.mode == "raw"
    assert not QuarantinedBatch.objects.exists()
    # Same validation and idempotency as a clear upload: a bad record is named, a replay adds nothing.
    again = send(client, edge, envelope(edge, fleet(3) + [record("S21_0009", "not-a-time")]))
    assert (again["accepted"], again["rejected"], again["duplicates"]) == (0, 1, 3)
    assert again["errors"][0]["error_code"] == "INVALID_TIMESTAMP"
    assert raw_count(edge) == 3


def test_a_key_written_as_the_collector_writes_it_is_accepted_by_the_command(edge):
    for text in (KEY.hex(), b64url(KEY), base64.urlsafe_b64encode(KEY).decode()):
        payload_key_clear(actor=SETUP, collector=edge.collector)
        err = io.StringIO()
        call_command(
            "collector_payload_key", site=edge.site.code, collector=edge.collector.name, set_hex=text, stderr=err
        )
        assert payload_keys_for(edge.collector.pk)[0][1] == KEY
        assert text not in err.getvalue()
    payload_key_clear(actor=SETUP, collector=edge.collector)
    call_command(
        "collector_payload_key",
        site=edge.site.code,
        collector=edge.collector.name,
        set_hex="-",
        stdin=io.StringIO(KEY.hex() + "\n"),
        stderr=io.StringIO(),
    )  # the key from stdin, never on the command line
    assert payload_keys_for(edge.collector.pk)[0][1] == KEY
    with pytest.raises(CommandError, match="32 bytes"):
        call_command("collector_payload_key", site=edge.site.code, collector=edge.collector.name, set_hex="abcd")


# --- before the key: held, counted, visible; then ingested ---------------------------------------


def test_an_encrypted_batch_before_its_key_is_quarantined_then_ingested_when_the_key_is_registered(
    client, edge, django_capture_on_commit_callbacks
):
    held_before = _sample("telemetry_quarantined_batches_total", reason="PAYLOAD_KEY_MISSING")
    body = envelope(edge, fleet(4))
    answer = send(client, edge, body)
    # 200 + success: the collector marks the batch done instead of spooling it for ever (§2.4).
    assert answer["success"] is True and answer["quarantined"] is True and answer["accepted"] == 0
    assert answer["error_code"] == "PAYLOAD_KEY_MISSING"
    assert raw_count(edge) == 0 and not IngestBatch.objects.exists()
    held = QuarantinedBatch.objects.get(pk=answer["quarantine_id"])
    assert (held.status, held.reason, held.collector_id, held.site_id) == (
        "pending",
        "PAYLOAD_KEY_MISSING",
        edge.collector.pk,
        edge.site.pk,
    )
    assert bytes(held.body) == body and held.mode == "raw" and held.device_id == edge.device_id
    assert _sample("telemetry_quarantined_batches_total", reason="PAYLOAD_KEY_MISSING") - held_before == 1

    # The same bytes again (a spool replay) are held once.
    assert send(client, edge, body)["quarantine_id"] == held.pk
    assert QuarantinedBatch.objects.count() == 1

    # Registering the key queues the drain; the drain ingests through the normal path.
    with django_capture_on_commit_callbacks() as queued:
        call_command("collector_payload_key", site=edge.site.code, collector=edge.collector.name, set_hex=b64url(KEY))
    assert len(queued) == 1
    assert drain(edge) == {"done": 1, "failed": 0, "skipped": 0}
    assert raw_count(edge) == 4
    held.refresh_from_db()
    assert held.status == "done" and held.attempts == 1 and held.processed_at is not None
    receipt = held.ingest_batch
    assert (receipt.accepted, receipt.received_at, receipt.body_format) == (4, held.received_at, "encrypted")
    assert bytes(held.body) == b"" and held.body_sha256 == receipt.body_sha256  # the receipt holds what mattered

    # Nothing is ingested twice: the drain finds nothing left, the collector's replay adds nothing.
    assert drain(edge) == {"done": 0, "failed": 0, "skipped": 0}
    replay = send(client, edge, body)
    assert (replay["accepted"], replay["duplicates"]) == (0, 4)
    assert raw_count(edge) == 4
    assert AuditEvent.objects.filter(action="telemetry.quarantine.drained", payload__done=1).count() == 1


def test_held_batches_are_ingested_in_arrival_order(client, edge, clock):
    first = send(client, edge, envelope(edge, fleet(2, minutes_ago=3)))["quarantine_id"]
    clock.shift(30)
    second = send(client, edge, envelope(edge, fleet(2, minutes_ago=2)))["quarantine_id"]
    payload_key_set(actor=SETUP, collector=edge.collector, key=KEY)
    quarantine_drain()  # the beat's pass: every collector with a key
    a, b = QuarantinedBatch.objects.get(pk=first), QuarantinedBatch.objects.get(pk=second)
    assert a.status == b.status == "done"
    assert a.ingest_batch_id < b.ingest_batch_id and a.processed_at <= b.processed_at


def test_a_batch_spooled_before_a_rotation_still_opens_with_the_previous_key(client, edge):
    payload_key_set(actor=SETUP, collector=edge.collector, key=KEY)
    spooled = envelope(edge, fleet(2))
    payload_key_set(actor=SETUP, collector=edge.collector, key=OTHER_KEY)
    assert send(client, edge, spooled)["accepted"] == 2
    assert send(client, edge, envelope(edge, fleet(2, start=5), key=OTHER_KEY))["accepted"] == 2


# --- wrong key, altered bytes, unsupported envelopes -----------------------------------------------


def _tampered(edge, records) -> bytes:
    enc = sealed(records, KEY)
    raw = bytearray(base64.urlsafe_b64decode(enc["ciphertext_b64"] + "=" * (-len(enc["ciphertext_b64"]) % 4)))
    raw[5] ^= 0x01
    return envelope(edge, records, ciphertext_b64=b64url(bytes(raw)), nonce_b64=enc["nonce_b64"])


def test_a_batch_under_another_key_is_held_failed_and_ingested_once_the_right_key_is_registered(client, edge):
    payload_key_set(actor=SETUP, collector=edge.collector, key=OTHER_KEY)
    answer = send(client, edge, envelope(edge, fleet(2), key=KEY))
    assert answer["quarantined"] is True and answer["error_code"] == "PAYLOAD_DECRYPT_FAILED"
    held = QuarantinedBatch.objects.get(pk=answer["quarantine_id"])
    assert held.status == "failed" and "another key" in held.detail
    # The beat does not retry it with the same key…
    assert quarantine_drain() == {"done": 0, "failed": 0, "skipped": 0}
    # …the right key does.
    payload_key_set(actor=SETUP, collector=edge.collector, key=KEY)
    assert drain(edge)["done"] == 1
    assert raw_count(edge) == 2


def test_an_altered_ciphertext_never_opens_and_stays_visible_with_its_reason(client, edge):
    payload_key_set(actor=SETUP, collector=edge.collector, key=KEY)
    answer = send(client, edge, _tampered(edge, fleet(2)))
    assert answer["quarantined"] is True and answer["error_code"] == "PAYLOAD_DECRYPT_FAILED"
    payload_key_set(actor=SETUP, collector=edge.collector, key=OTHER_KEY)  # a new key: tried again
    assert drain(edge) == {"done": 0, "failed": 1, "skipped": 0}
    held = QuarantinedBatch.objects.get()
    assert (held.status, held.reason, held.attempts) == ("failed", "PAYLOAD_DECRYPT_FAILED", 1)
    assert raw_count(edge) == 0


@pytest.mark.parametrize(
    ("override", "code", "field"),
    [
        ({"alg": "AES-128-CBC"}, "PAYLOAD_ALG_UNSUPPORTED", "alg"),
        ({"v": 2}, "PAYLOAD_VERSION_UNSUPPORTED", "v"),
        ({"nonce_b64": b64url(b"short")}, "PAYLOAD_ENC_INVALID", "nonce_b64"),
        ({"ciphertext_b64": "not base64!"}, "PAYLOAD_ENC_INVALID", "ciphertext_b64"),
    ],
    ids=["alg", "version", "nonce-length", "not-base64"],
)
def test_an_envelope_no_key_could_open_is_refused_with_400_and_nothing_is_held(client, edge, override, code, field):
    answer = send(client, edge, envelope(edge, fleet(1), **override), status=400)
    assert answer["success"] is False and answer["error_code"] == code and answer["field"] == field
    assert not QuarantinedBatch.objects.exists()


def test_what_opens_but_is_not_a_list_of_records_is_refused(client, edge):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    payload_key_set(actor=SETUP, collector=edge.collector, key=KEY)
    nonce = os.urandom(12)
    enc = {"nonce_b64": b64url(nonce), "ciphertext_b64": b64url(AESGCM(KEY).encrypt(nonce, b'{"a": 1}', None))}
    answer = send(client, edge, envelope(edge, [], **enc), status=400)
    assert answer["error_code"] == "PAYLOAD_PLAINTEXT_INVALID"


def test_beyond_the_quarantine_cap_the_upload_is_refused_so_the_collector_keeps_it(client, edge, settings):
    settings.TELEMETRY_QUARANTINE_MAX_BATCHES = 1
    send(client, edge, envelope(edge, fleet(1)))
    answer = send(client, edge, envelope(edge, fleet(1, start=2)), status=429)
    assert answer["success"] is False and answer["error_code"] == "QUARANTINE_FULL"
    assert QuarantinedBatch.objects.count() == 1
    settings.TELEMETRY_QUARANTINE_MAX_BATCHES, settings.TELEMETRY_QUARANTINE_MAX_BYTES = 10, 10
    send(client, edge, envelope(edge, fleet(1, start=3)), status=429)


# --- the key at rest and its audit trail ----------------------------------------------------------


def test_the_key_at_rest_is_sealed_not_the_plaintext(edge, settings):
    payload_key_set(actor=SETUP, collector=edge.collector, key=KEY)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT key_sealed, fingerprint FROM telemetry_collectorpayloadkey WHERE collector_id = %s",
            [edge.collector.pk],
        )
        stored, fingerprint = cur.fetchone()
    assert stored.startswith("v1:")
    for form in (KEY.hex(), b64url(KEY), base64.b64encode(KEY).decode()):
        assert form not in stored
    context = f"collector-payload-key:{edge.collector.pk}"
    assert unseal(stored, context=context) == KEY
    with pytest.raises(SealedValueUnreadable):  # copied onto another collector's row, it does not open
        unseal(stored, context=f"collector-payload-key:{edge.collector.pk + 1}")
    settings.COLLECTOR_KEY_KEK = "ab" * 32
    with pytest.raises(SealedValueUnreadable):  # nor under another KEK
        unseal(stored, context=context)
    settings.COLLECTOR_KEY_KEK = ""
    with pytest.raises(SealingUnavailable):
        payload_key_set(actor=SETUP, collector=edge.collector, key=OTHER_KEY)


def test_registering_rotating_and_clearing_are_audited_with_fingerprints_never_the_key(edge):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "collector_payload_key",
        site=edge.site.code,
        collector=edge.collector.name,
        generate=True,
        stdout=out,
        stderr=err,
    )
    generated = bytes.fromhex(out.getvalue().strip())
    assert payload_keys_for(edge.collector.pk)[0][1] == generated
    assert generated.hex() not in err.getvalue()
    payload_key_set(actor=SETUP, collector=edge.collector, key=KEY)
    payload_key_clear(actor=SETUP, collector=edge.collector)
    events = list(
        AuditEvent.objects.filter(action__startswith="telemetry.payload_key.", entity_id=str(edge.collector.pk))
        .order_by("seq")
        .values_list("action", "payload", "chain_key")
    )
    assert [a for a, _, _ in events] == [
        "telemetry.payload_key.registered",
        "telemetry.payload_key.rotated",
        "telemetry.payload_key.cleared",
    ]
    assert {c for _, _, c in events} == {f"site:{edge.site.code}"}
    assert events[1][1]["previous_fingerprint"] == events[0][1]["fingerprint"] != events[1][1]["fingerprint"]
    text = json.dumps([p for _, p, _ in events])
    for key in (generated, KEY):
        for form in (key.hex(), b64url(key), base64.b64encode(key).decode()):
            assert form not in text
    assert not CollectorPayloadKey.objects.exists()


# --- the console, and isolation between sites ------------------------------------------------------


def run_action(client, action, collector):
    data = {"action": action, ACTION_CHECKBOX_NAME: [collector.pk], "index": 0}
    return client.post(reverse("admin:tenants_collector_changelist"), data, follow=True)


def test_the_console_lists_held_batches_and_counts_them_on_the_collector_page(client, as_user, edge):
    send(client, edge, envelope(edge, fleet(1)))
    send(client, edge, envelope(edge, fleet(1, start=2)))
    manager = grant(UserFactory(username="opsmgr-acc"), Role.OPS_MANAGER, site=edge.site)
    console = as_user(manager)
    page = console.get(reverse("admin:telemetry_quarantinedbatch_changelist"))
    assert page.status_code == 200 and page.content.count(b"PAYLOAD_KEY_MISSING") >= 2
    collectors = console.get(reverse("admin:tenants_collector_changelist"))
    assert b'<b style="color:#c62828">2</b>' in collectors.content

    response = run_action(console, "generate_payload_key", edge.collector)
    shown = [str(m) for m in response.context["messages"]]
    key_hex = shown[0].split("<code>")[1].split("</code>")[0]
    row = CollectorPayloadKey.objects.get(collector=edge.collector)
    assert payload_keys_for(edge.collector.pk)[0][1] == bytes.fromhex(key_hex)
    page = console.get(reverse("admin:tenants_collector_change", args=[edge.collector.pk])).content
    assert row.fingerprint.encode() in page and key_hex.encode() not in page

    run_action(console, "clear_payload_key", edge.collector)
    assert not CollectorPayloadKey.objects.exists()


def test_a_noc_operator_cannot_register_keys(as_user, edge):
    noc = grant(UserFactory(username="noc-acc"), Role.NOC, site=edge.site)
    console = as_user(noc)
    assert b"generate_payload_key" not in console.get(reverse("admin:tenants_collector_changelist")).content
    run_action(console, "generate_payload_key", edge.collector)
    assert not CollectorPayloadKey.objects.exists()


def test_another_sites_collector_neither_sees_nor_drains_the_quarantine(client, as_user, edge):
    other_site = SiteFactory(code="SITE-OTHER")
    other = CollectorFactory(site=other_site, name="edge-other")
    _, other_token = collector_token_create(actor=SETUP, collector=other)
    body = envelope(edge, fleet(2))
    held = QuarantinedBatch.objects.get(pk=send(client, edge, body)["quarantine_id"])

    # The other collector holds the same key: its registration drains only its own batches.
    payload_key_set(actor=SETUP, collector=other, key=KEY)
    assert quarantine_drain(collector_id=other.pk) == {"done": 0, "failed": 0, "skipped": 0}
    quarantine_drain()
    held.refresh_from_db()
    assert held.status == "pending" and raw_count(edge) == 0
    # Its token cannot post this site's envelope (the envelope names SITE-ACC).
    refused = post(client, edge, body, path=V1, token=other_token, site_code="SITE-OTHER")
    assert refused.status_code == 403 and refused.json()["error_code"] == "SITE_MISMATCH"
    assert QuarantinedBatch.objects.count() == 1

    # Its operators see none of this site's held batches, nor the count.
    noc_other = grant(UserFactory(username="noc-other"), Role.NOC, site=other_site)
    console = as_user(noc_other)
    assert b"PAYLOAD_KEY_MISSING" not in console.get(reverse("admin:telemetry_quarantinedbatch_changelist")).content
    assert console.get(reverse("admin:telemetry_quarantinedbatch_change", args=[held.pk])).status_code == 403


def test_a_generated_key_is_32_random_bytes_and_rotation_keeps_one_previous_key(edge):
    row, first = payload_key_generate(actor=SETUP, collector=edge.collector)
    row, second = payload_key_generate(actor=SETUP, collector=edge.collector)
    assert len(bytes.fromhex(first)) == len(bytes.fromhex(second)) == 32 and first != second
    assert [k for _, k in payload_keys_for(edge.collector.pk)] == [bytes.fromhex(second), bytes.fromhex(first)]


def test_drained_batches_go_with_their_receipts_and_open_ones_stay(client, edge, settings):
    import datetime as dt

    from telemetry.retention import telemetry_retention_purge

    drained = send(client, edge, envelope(edge, fleet(1)))["quarantine_id"]
    payload_key_set(actor=SETUP, collector=edge.collector, key=OTHER_KEY)
    still_open = send(client, edge, envelope(edge, fleet(1, start=2)))["quarantine_id"]  # under KEY: fails
    payload_key_set(actor=SETUP, collector=edge.collector, key=KEY)
    payload_key_set(actor=SETUP, collector=edge.collector, key=OTHER_KEY)  # KEY is now the previous key
    drain(edge)
    assert set(QuarantinedBatch.objects.values_list("pk", "status")) == {(drained, "done"), (still_open, "done")}
    newer = send(client, edge, envelope(edge, fleet(1, start=3), key=bytes(32)))["quarantine_id"]
    later = CAPTURE_NOW + dt.timedelta(days=settings.TELEMETRY_1M_RETENTION_DAYS + 1)
    report = telemetry_retention_purge(now=later)
    assert report["rows_deleted"]["telemetry_quarantinedbatch"] == 2
    assert report["rows_deleted"]["telemetry_ingestbatch"] == 2
    assert list(QuarantinedBatch.objects.values_list("pk", flat=True)) == [newer]


def test_a_manager_discards_held_batches_audited_a_noc_operator_cannot(client, as_user, edge):
    held = QuarantinedBatch.objects.get(pk=send(client, edge, envelope(edge, fleet(1)))["quarantine_id"])
    changelist = reverse("admin:telemetry_quarantinedbatch_changelist")
    data = {"action": "discard", ACTION_CHECKBOX_NAME: [held.pk], "index": 0}
    noc = grant(UserFactory(username="noc-acc"), Role.NOC, site=edge.site)
    as_user(noc).post(changelist, data, follow=True)
    assert QuarantinedBatch.objects.filter(pk=held.pk).exists()
    manager = grant(UserFactory(username="opsmgr-acc"), Role.OPS_MANAGER, site=edge.site)
    as_user(manager).post(changelist, data, follow=True)
    assert not QuarantinedBatch.objects.exists()
    event = AuditEvent.objects.get(action="telemetry.quarantine.discarded")
    assert event.payload["batches"] == [{"id": held.pk, "sha256": held.body_sha256, "reason": "PAYLOAD_KEY_MISSING"}]


def test_with_the_kek_changed_uploads_are_held_not_refused_and_drained_once_it_is_back(client, edge, settings):
    payload_key_set(actor=SETUP, collector=edge.collector, key=KEY)
    kek = settings.COLLECTOR_KEY_KEK
    settings.COLLECTOR_KEY_KEK = "cd" * 32  # a deployment started with another KEK
    answer = send(client, edge, envelope(edge, fleet(2)))
    assert answer["quarantined"] is True and answer["error_code"] == "SEALED_VALUE_UNREADABLE"
    assert QuarantinedBatch.objects.get().status == "pending"
    assert drain(edge) == {"done": 0, "failed": 0, "skipped": 1}
    settings.COLLECTOR_KEY_KEK = kek
    assert drain(edge)["done"] == 1 and raw_count(edge) == 2
