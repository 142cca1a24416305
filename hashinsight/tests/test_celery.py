"""Against real `celery worker` and `celery beat` processes on the test database and broker."""

import socket
import subprocess

import pytest
from django.core.cache import cache

from hashinsight.celery import app
from hashinsight.ops.beat import BEAT_TICK_KEY
from hashinsight.ops.tasks import WORKER_HEARTBEAT_KEY, heartbeat_task
from hashinsight.tests import procs
from hashinsight.tests.periodic_probe import JOB, RUNS_KEY

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, tmp_path_factory):
    """A real `celery worker` (2 prefork children) on the test database, Redis and broker; it
    also loads the test-only periodic job of periodic_probe.py."""
    app.control.purge()  # messages left by an earlier run would be executed now
    proc = procs.start(
        [
            procs.PYTHON,
            "-m",
            "celery",
            "-A",
            "hashinsight",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--pool",
            "prefork",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            "ops-test@%h",
            "--include",
            "hashinsight.tests.periodic_probe",
            "-Q",
            "ingest",  # the Procfile `worker`'s queue: everything but the reports
        ],
        env=procs.service_env(),
        log=tmp_path_factory.mktemp("worker") / "worker.log",
    )
    try:
        procs.wait_until(lambda: " ready." in proc.log_path.read_text(errors="replace"), proc=proc, what="worker ready")
        yield proc
    finally:
        procs.stop(proc)


def _periodic_events(worker, event):
    return [r for r in procs.json_lines(worker) if r.get("event") == event and r.get("job") == JOB]


def test_worker_heartbeat_reaches_deep_health(client, celery_worker):
    assert client.get("/health/deep").json()["checks"]["worker"]["error"] == "never seen"
    heartbeat_task.delay()
    procs.wait_until(lambda: cache.get(WORKER_HEARTBEAT_KEY), proc=celery_worker, what="heartbeat recorded")
    body = client.get("/health/deep").json()
    assert body["checks"]["worker"]["ok"] is True
    assert body["failing"] == ["beat"]


def test_beat_records_its_tick_and_deep_health_turns_ok(client, celery_worker, tmp_path):
    assert "beat" in client.get("/health/deep").json()["failing"]
    beat = procs.start(
        [
            procs.PYTHON,
            "-m",
            "celery",
            "-A",
            "hashinsight",
            "beat",
            "--loglevel",
            "INFO",
            "--pidfile",
            str(tmp_path / "beat.pid"),
            "--schedule",
            str(tmp_path / "beat-schedule"),
        ],
        env=procs.service_env(),
        log=tmp_path / "beat.log",
    )
    try:
        procs.wait_until(lambda: cache.get(BEAT_TICK_KEY), proc=beat, what="beat tick recorded")
    finally:
        procs.stop(beat)
    heartbeat_task.delay()
    procs.wait_until(lambda: cache.get(WORKER_HEARTBEAT_KEY), proc=celery_worker, what="heartbeat recorded")
    response = client.get("/health/deep")
    assert response.status_code == 200, response.json()
    assert response.json()["failing"] == []


def test_a_job_sent_by_two_beats_at_once_runs_once_and_logs_the_skip(celery_worker):
    cache.set(RUNS_KEY, 0, timeout=None)
    runs_before, skips_before = (
        len(_periodic_events(celery_worker, "periodic.run")),
        len(_periodic_events(celery_worker, "periodic.skipped")),
    )
    # What two beats do when both find the job due: each sends its own message.
    app.send_task(JOB)
    app.send_task(JOB)
    procs.wait_until(
        lambda: (
            len(_periodic_events(celery_worker, "periodic.run"))
            + len(_periodic_events(celery_worker, "periodic.skipped"))
            >= runs_before + skips_before + 2
        ),
        proc=celery_worker,
        what="both deliveries handled",
    )
    assert cache.get(RUNS_KEY) == 1
    assert len(_periodic_events(celery_worker, "periodic.run")) == runs_before + 1
    skipped = _periodic_events(celery_worker, "periodic.skipped")[skips_before:]
    assert len(skipped) == 1
    assert skipped[0]["reason"] in {"already ran in this interval", "previous run still in progress"}


def test_worker_answers_the_ping_its_container_healthcheck_sends(celery_worker):
    result = subprocess.run(
        [
            procs.PYTHON,
            "-m",
            "celery",
            "-A",
            "hashinsight",
            "inspect",
            "ping",
            "--destination",
            f"ops-test@{socket.gethostname()}",
            "--timeout",
            "10",
        ],
        cwd=procs.BASE_DIR,
        env=procs.service_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pong" in result.stdout


def test_the_rule_pass_is_shared_out_in_chunks_of_sites_and_each_acts(celery_worker):
    """rules.evaluate (the beat's task) hands the sites with enabled rules to rules.evaluate_sites
    tasks, RULES_EVAL_SITES_PER_TASK (10) at a time; the workers' chunks catch each site's hot miner."""
    from django.utils import timezone

    from audit.services import Actor
    from rules.models import HitKind, RuleHit
    from rules.services.definitions import rule_create
    from telemetry.models import TelemetryLive
    from tests.factories import MinerFactory, SiteFactory

    now = timezone.now()
    hot = []
    for n in range(11):  # 11 sites: two chunks
        site = SiteFactory(code=f"CHUNK-{n:02d}")
        miner = MinerFactory(site=site)
        definition = {"name": "hot", "metric": "temp_max", "op": "gt", "threshold": 85, "consecutive_samples": 1}
        rule_create(actor=Actor.system("test"), user=None, site=site, **definition)
        temp = 95.0 if n in (0, 10) else 60.0
        TelemetryLive.objects.create(
            miner=miner, site=site, tenant=miner.tenant, ts=now, received_at=now, online=True, temperature_max=temp
        )
        if temp > 85:
            hot.append(miner.pk)
    cache.delete("periodic:rules.evaluate")
    done_before = sum("rules.evaluate_sites[" in line and "succeeded" in line for line in _log(celery_worker))
    app.send_task("rules.evaluate")
    procs.wait_until(
        lambda: (
            sum("rules.evaluate_sites[" in line and "succeeded" in line for line in _log(celery_worker))
            >= done_before + 2
        ),
        proc=celery_worker,
        what="two rules.evaluate_sites chunks done",
    )
    assert sorted(RuleHit.objects.filter(kind=HitKind.TRIGGER).values_list("miner_id", flat=True)) == sorted(hot)


def _log(worker) -> list[str]:
    return worker.log_path.read_text(errors="replace").splitlines()


def test_registering_a_payload_key_has_the_worker_ingest_the_quarantined_batch(celery_worker):
    """An encrypted upload held before its key (telemetry.quarantine): registering the key queues
    telemetry.quarantine_drain_collector on commit, and the worker ingests the batch."""
    import datetime as dt
    import gzip
    import os

    import orjson
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from django.utils import timezone

    from audit.services import Actor
    from core.sealing import b64url_encode
    from telemetry.models import QuarantinedBatch, TelemetryRaw
    from telemetry.payload_keys import payload_key_set
    from telemetry.services import telemetry_ingest_batch
    from telemetry.tests.ingest_fixtures import record
    from tenants.collector_auth import CollectorPrincipal
    from tenants.models import Tenant
    from tenants.services import collector_token_create
    from tests.factories import CollectorFactory, SiteFactory, TenantFactory

    if not Tenant.objects.filter(is_operator=True).exists():  # it owns the miners the upload registers
        TenantFactory(slug="operator-enc", is_operator=True)
    collector = CollectorFactory(site=SiteFactory(code="ENC-1"), name="edge-enc")
    token, _ = collector_token_create(actor=Actor.system("test"), collector=collector)
    key, nonce = os.urandom(32), os.urandom(12)
    ts = timezone.now() - dt.timedelta(seconds=30)
    records = orjson.dumps([record(f"S21_{i:04d}", ts) for i in range(3)])
    enc = {"v": 1, "alg": "AES-256-GCM", "nonce_b64": b64url_encode(nonce)}
    enc["ciphertext_b64"] = b64url_encode(AESGCM(key).encrypt(nonce, records, None))
    body = gzip.compress(orjson.dumps({"schema": "telemetry_envelope.v1", "site_id": "ENC-1", "payload_enc": enc}))
    held = telemetry_ingest_batch(principal=CollectorPrincipal(token=token, device_id="d"), body=body, endpoint="v1")
    assert isinstance(held, QuarantinedBatch) and held.status == "pending"

    payload_key_set(actor=Actor.system("test"), collector=collector, key=key)  # commits: the task is sent
    procs.wait_until(
        lambda: QuarantinedBatch.objects.filter(pk=held.pk, status="done").exists(),
        proc=celery_worker,
        what="quarantined batch ingested by the worker",
    )
    receipt = QuarantinedBatch.objects.get(pk=held.pk).ingest_batch
    assert (receipt.accepted, receipt.first_reasons) == (3, [])
    assert TelemetryRaw.objects.filter(site=collector.site).count() == 3
