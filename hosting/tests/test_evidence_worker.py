"""A long period's pack built by a real `celery worker` process on the test database and broker:
requested through the API, the task sent on commit, progress visible, the zip downloadable."""

import csv
import io
import json

import pytest

from hashinsight.celery import app
from hashinsight.tests import procs
from hosting.tests.evidence_data import pack_world, unzip

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return settings.MEDIA_ROOT


@pytest.fixture
def worker(django_db_setup, media, tmp_path):
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
            "1",
            "--pool",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            "evidence@%h",
            "-Q",
            "reports",  # the queue CELERY_TASK_ROUTES sends pack builds to (Procfile `worker-reports`)
        ],
        env=procs.service_env(MEDIA_ROOT=media),
        log=tmp_path / "worker.log",
    )
    try:
        procs.wait_until(lambda: " ready." in proc.log_path.read_text(errors="replace"), proc=proc, what="worker ready")
        yield proc
    finally:
        procs.stop(proc)


def test_a_worker_builds_a_two_day_pack_and_the_status_shows_it_ready(client, world, noc_x, customer_a, worker):
    pack_world(world, noc_x)
    client.force_login(customer_a)
    response = client.get(
        "/api/v1/hosting/evidence_pack",
        {"site_id": "SITE-X", "from": "2026-11-01T10:00:00Z", "to": "2026-11-03T10:00:00Z"},
    )
    assert response.status_code == 202, response.content
    status_url = response.json()["status_url"]
    seen = set()

    def ready():
        body = client.get(status_url).json()
        seen.add(body["status"])
        return body if body["status"] in ("ready", "failed") else None

    body = procs.wait_until(ready, timeout=60, proc=worker, what="pack built by the worker")
    assert body["status"] == "ready", body
    assert body["progress"] == 100
    data = b"".join(client.get(body["download_url"]).streaming_content)
    files = unzip(data)
    assert {"manifest.json", "verify.py", "downtime/intervals.csv"} <= set(files)
    manifest = json.loads(files["manifest.json"])
    assert (manifest["period"]["from"], manifest["scope"]["miners"], manifest["metrics_tier"]) == (
        "2026-11-01T10:00:00Z",
        3,
        "15m",
    )
    offline = {
        r["miner_id"]: r["offline_minutes"]
        for r in csv.DictReader(io.StringIO(files["downtime/by_miner.csv"].decode()))
    }
    assert offline[world.miners_a_x[0].miner_id] == "10.0"
