import time

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection

from hashinsight.ops.tasks import heartbeat_task
from hashinsight.tests import procs

pytestmark = pytest.mark.django_db


def test_health_and_alive_answer_ok(client):
    assert client.get("/alive").json() == {"status": "ok"}
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "failing": [], "checks": {"database": {"ok": True}}}


def test_ready_is_ok_with_database_redis_and_every_migration_applied(client):
    response = client.get("/ready")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["migrations"] == {"ok": True, "unapplied": []}


def test_deep_health_names_worker_and_beat_before_either_was_seen(client):
    response = client.get("/health/deep")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["failing"] == ["worker", "beat"]
    assert body["checks"]["worker"] == {"ok": False, "error": "never seen"}
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"] and body["checks"]["migrations"]["ok"]


def test_heartbeat_task_turns_the_worker_check_ok(client):
    heartbeat_task()
    body = client.get("/health/deep").json()
    assert body["checks"]["worker"]["ok"] is True
    assert body["failing"] == ["beat"]


def test_a_heartbeat_older_than_the_limit_fails_as_stale(client, settings):
    settings.HEALTH_HEARTBEAT_MAX_AGE_SEC = 120
    heartbeat_task()
    with time_machine.travel(time.time() + 121):
        worker = client.get("/health/deep").json()["checks"]["worker"]
    assert worker["ok"] is False and worker["error"] == "stale" and worker["age_sec"] >= 121


def test_an_unapplied_migration_fails_ready_and_names_it(client):
    with connection.cursor() as cur:  # rolled back with the test
        cur.execute("DELETE FROM django_migrations WHERE app = 'sessions' AND name = '0001_initial'")
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["failing"] == ["migrations"]
    assert response.json()["checks"]["migrations"]["unapplied"] == ["sessions.0001_initial"]


def test_probes_answer_whatever_host_the_orchestrator_dials(client):
    # Kubernetes and Docker healthchecks use the container's IP, which ALLOWED_HOSTS does not list.
    assert client.get("/alive", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/health", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/admin/login/", HTTP_HOST="10.1.2.3:8000").status_code == 400


def test_probes_refuse_other_methods(client):
    assert client.post("/health").status_code == 405


def test_probe_command_fails_naming_the_check_until_a_heartbeat(capsys):
    with pytest.raises(CommandError, match="failing: worker"):
        call_command("probe", "database", "worker")
    heartbeat_task()
    call_command("probe", "database", "worker")
    assert '"status": "ok"' in capsys.readouterr().out


def test_probes_fail_naming_database_and_redis_when_neither_is_reachable(tmp_path):
    # A real gunicorn whose database and Redis ports have nobody listening.
    dead = procs.free_port()
    server = procs.start_gunicorn(
        tmp_path,
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{dead}/nowhere",
        REDIS_URL=f"redis://127.0.0.1:{dead}/0",
        WEB_CONCURRENCY="1",
    )
    try:
        assert procs.http_get(server.port, "/alive").status_code == 200
        health = procs.http_get(server.port, "/health")
        assert health.status_code == 503 and health.json()["failing"] == ["database"]
        ready = procs.http_get(server.port, "/ready")
        assert ready.status_code == 503 and ready.json()["failing"] == ["database", "redis", "migrations"]
        assert ready.json()["checks"]["database"]["error"] == "OperationalError"
    finally:
        procs.stop(server)
