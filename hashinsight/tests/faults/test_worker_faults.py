"""Fault matrix, worker side (docs/OPERATIONS.md "Fault matrix"): the Celery worker killed with -9
mid-rollup and mid-evidence-pack — its pool process alone (the worker re-queues the task at once), or
the whole worker, main process and pool (nobody left to re-queue it: the broker's visibility timeout
brings it back to the worker started next) — and the task re-runs to the same result; a full pack
storage; and beats killed, doubled and cut off from Redis (each job once per interval, none lost)."""

import datetime as dt
import hashlib
import os
import signal
import time
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.conf import settings

from hashinsight.tests import procs
from hashinsight.tests.faults.stack import Collector, children, record, seed_site
from hashinsight.tests.periodic_probe import FAST_INTERVAL, FAST_JOB

pytestmark = [pytest.mark.slow, pytest.mark.fault]


def _send(stack, task: str, *args):
    # Not Celery(broker=…): a CELERY_BROKER_URL in this environment would win over it. The project's
    # routes (settings.CELERY_TASK_ROUTES) put each task on its queue, as the product's app would.
    app = Celery()
    app.conf.task_routes, app.conf.task_default_queue = settings.CELERY_TASK_ROUTES, settings.CELERY_TASK_DEFAULT_QUEUE
    with app.connection_for_write(stack.redis.url(1)) as conn:
        app.send_task(task, args=list(args), connection=conn)


def _waiting_on_lock(stack, like: str) -> bool:
    return bool(
        stack.pg.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE %s", [like]
        )
    )


# The whole-worker kill: the redelivery is kombu's own (an unacknowledged message older than the
# visibility timeout is put back by a running worker's sweep), with the production 900 s / 60 s
# lowered so the test takes seconds. Above the redelivered run's length (a second or two here), so
# the new worker never puts back the message it is running.
FAST_REDELIVERY = {"CELERY_VISIBILITY_TIMEOUT_SEC": "15", "CELERY_UNACKED_RESTORE_SEC": "1"}
KILLS = ["pool", "whole"]


def _unacked(stack) -> int:
    """Messages a worker took and has not acknowledged (kombu's Redis transport keeps them here)."""
    client = redis.Redis.from_url(stack.redis.url(1))
    try:
        return client.hlen("unacked")
    finally:
        client.close()


def _fresh_interval(stack, job: str) -> None:
    """Forget the job's once-per-interval slot (core/periodic.py) an earlier test's run still holds,
    which would make this test's run a skip; and any watermark it left (each test inserts its own)."""
    client = redis.Redis.from_url(stack.redis.url(0))
    try:
        for key in client.scan_iter(f"hi-faults:*:periodic:{job}"):
            client.delete(key)
    finally:
        client.close()
    stack.pg.scalar("DELETE FROM telemetry_rollup_watermark WHERE tier = '15m' RETURNING 1")


def _kill_pool(worker) -> list[int]:
    pids = children(worker.pid)
    assert pids, "the worker has no pool process"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return pids


def _kill_mid_task(stack, worker, kill: str) -> None:
    """`pool`: the pool process only; the worker main process re-queues the task (reject on worker
    lost) and forks a new one. `whole`: the main process and its pool at once (kill -9 of the
    process group, as the OOM killer or a lost box would): the message stays unacknowledged."""
    if kill == "pool":
        _kill_pool(worker)
        procs.wait_until(lambda: children(worker.pid), proc=worker, what="a new pool process")
        return
    pool = children(worker.pid)
    assert pool, "the worker has no pool process"
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    procs.wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in pool), what="the pool gone")
    assert _unacked(stack) == 1  # no process left to re-queue it: only the visibility timeout can


def _worker_after(stack, worker, kill: str):
    """The worker that finishes the task: the same one, or (whole) the one the supervisor starts."""
    return worker if kill == "pool" else stack.worker("faults-2", **FAST_REDELIVERY)


def _worker_env(kill: str) -> dict:
    return FAST_REDELIVERY if kill == "whole" else {}


def _upload_an_hour(stack, site: str, miners: int) -> tuple[int, dt.datetime]:
    token = seed_site(stack, site)
    web = stack.gunicorn()
    collector = Collector(web.port, token, site)
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    for minute in range(60):
        assert collector.send([record(f"RLP_{m:03d}", start + dt.timedelta(minutes=minute)) for m in range(miners)])
    return 60 * miners, start


@pytest.mark.parametrize("kill", KILLS)
def test_worker_killed_mid_rollup_reruns_it_to_the_same_result(stack, kill):
    sent, start = _upload_an_hour(stack, f"F-ROLL-{kill[0].upper()}", miners=20)
    site_filter = f"site_id = (SELECT id FROM tenants_site WHERE code = 'F-ROLL-{kill[0].upper()}')"
    _fresh_interval(stack, "telemetry.rollup")  # the session's cluster and Redis are shared
    worker = stack.worker(**_worker_env(kill))
    # Hold the 15m watermark's row lock: the rollup starts, claims its slot and waits inside its
    # transaction — "mid-rollup" — until the lock goes.
    holder = stack.pg.connect()
    holder.autocommit = False
    with holder.cursor() as cur:
        # closed up to the uploaded hour: this run's closing pass is exactly that hour and the next
        cur.execute(
            "INSERT INTO telemetry_rollup_watermark (tier, updated_at, closed_through, changed_through) "
            "VALUES ('15m', now(), %s, now())",
            [start],
        )
        cur.execute("SELECT 1 FROM telemetry_rollup_watermark WHERE tier = '15m' FOR UPDATE")
    try:
        _send(stack, "telemetry.rollup")
        procs.wait_until(lambda: _waiting_on_lock(stack, "%rollup_watermark%"), proc=worker, what="rollup waiting")
        _kill_mid_task(stack, worker, kill)
    finally:
        holder.commit()  # the watermark row now exists for everyone; the dead run's session ends
        holder.close()
    first, worker = worker, _worker_after(stack, worker, kill)
    procs.wait_until(
        lambda: stack.pg.scalar(
            "SELECT closed_through > %s FROM telemetry_rollup_watermark WHERE tier = '15m'", [start]
        ),
        timeout=90,
        proc=worker,
        what="the redelivered rollup done",
    )
    logs = procs.json_lines(first) + (procs.json_lines(worker) if worker is not first else [])
    runs = [r for r in logs if r.get("event") == "periodic.run" and r["job"] == "telemetry.rollup"]
    assert [r["redelivered"] for r in runs] == [False, True]
    procs.wait_until(lambda: _unacked(stack) == 0, proc=worker, what="the redelivery acknowledged")
    closed = stack.pg.scalar("SELECT closed_through FROM telemetry_rollup_watermark WHERE tier = '15m'")
    window = f"bucket >= %s AND bucket < %s AND {site_filter}"
    in_15m = stack.pg.scalar(f"SELECT coalesce(sum(samples), 0) FROM telemetry_15m WHERE {window}", [start, closed])
    in_1m = stack.pg.scalar(f"SELECT coalesce(sum(samples), 0) FROM telemetry_1m WHERE {window}", [start, closed])
    assert in_15m == in_1m == sent  # every sample once: none lost in the killed run, none doubled
    assert stack.pg.scalar(f"SELECT max(revision) FROM telemetry_15m WHERE {window}", [start, closed]) == 0
    # Run again: the same result, nothing rewritten.
    out = stack.shell(
        "from telemetry.rollups import telemetry_rollup_15m; print('ROWS', telemetry_rollup_15m().rows_written)"
    )
    assert "ROWS 0" in out
    stack.verify_audit_chain()


PACK = """
import datetime as dt
import uuid
from audit.services import Actor
from hosting.services.evidence import evidence_pack_request
from tenants.models import Site, Tenant
from tests.factories import UserFactory
site = Site.objects.get(code={site!r})
end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
user = UserFactory(username="faults-" + uuid.uuid4().hex[:12])
pack = evidence_pack_request(actor=Actor.system("test.faults"), user=user, site=site,
    tenant=Tenant.objects.get(is_operator=True), start=end - dt.timedelta(days=2), end=end)
print("PACK=%d" % pack.pk)
"""


def _pack(stack, site: str) -> int:
    out = stack.shell(PACK.format(site=site))
    return int(next(line[5:] for line in out.splitlines() if line.startswith("PACK=")))


def _pack_row(stack, pk: int) -> dict:
    with stack.pg.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT status, file, sha256, error FROM hosting_evidencepack WHERE id = %s", [pk])
        status, name, sha, error = cur.fetchone()
    return {"status": status, "file": name, "sha256": sha, "error": error}


def _pack_events(stack, pk: int, action: str) -> int:
    return stack.pg.scalar(
        "SELECT count(*) FROM audit_auditevent WHERE action = %s AND entity_id = %s", [action, str(pk)]
    )


@pytest.mark.parametrize("kill", KILLS)
def test_worker_killed_mid_evidence_pack_rebuilds_it_once(stack, kill):
    site = f"F-PACK-{kill[0].upper()}"
    _upload_an_hour(stack, site, miners=5)
    pk = _pack(stack, site)
    worker = stack.worker(**_worker_env(kill))
    holder = stack.pg.connect()
    holder.autocommit = False
    with holder.cursor() as cur:  # the builder reads the audit chain: it waits there, mid-build
        cur.execute("LOCK TABLE audit_auditevent IN ACCESS EXCLUSIVE MODE")
    try:
        _send(stack, "hosting.evidence_pack_build", pk)
        procs.wait_until(lambda: _pack_row(stack, pk)["status"] == "building", proc=worker, what="pack building")
        procs.wait_until(lambda: _waiting_on_lock(stack, "%audit%"), proc=worker, what="builder waiting")
        _kill_mid_task(stack, worker, kill)
    finally:
        holder.rollback()
        holder.close()
    first, worker = worker, _worker_after(stack, worker, kill)
    procs.wait_until(lambda: _pack_row(stack, pk)["status"] == "ready", timeout=90, proc=worker, what="pack rebuilt")
    procs.wait_until(lambda: _unacked(stack) == 0, proc=worker, what="the redelivery acknowledged")
    row = _pack_row(stack, pk)
    data = (stack.tmp / "media" / row["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == row["sha256"]
    assert _pack_events(stack, pk, "hosting.evidence_pack.built") == 1
    assert _pack_events(stack, pk, "hosting.evidence_pack.failed") == 0
    assert [r.get("event") for r in procs.json_lines(worker)].count("evidence_pack.rebuild") == 1
    if worker is not first:
        assert "evidence_pack.rebuild" not in [r.get("event") for r in procs.json_lines(first)]
    stack.verify_audit_chain()


def test_a_full_pack_storage_fails_the_pack_clearly_and_stores_nothing(stack, tiny_media):
    _upload_an_hour(stack, "F-FULL", miners=5)
    pk = _pack(stack, "F-FULL")
    stack.shell(f"from hosting.services.evidence import evidence_pack_build; evidence_pack_build(pack_id={pk})")
    row = _pack_row(stack, pk)
    assert row["status"] == "failed" and row["file"] == ""
    assert row["error"].startswith("STORAGE_FULL"), row["error"]
    assert not (tiny_media / "evidence").exists() or not any((tiny_media / "evidence").rglob("*.zip"))
    assert _pack_events(stack, pk, "hosting.evidence_pack.failed") == 1
    (tiny_media / "filler").unlink()  # space again: a new request builds
    pk2 = _pack(stack, "F-FULL")
    stack.shell(f"from hosting.services.evidence import evidence_pack_build; evidence_pack_build(pack_id={pk2})")
    assert _pack_row(stack, pk2)["status"] == "ready"
    stack.verify_audit_chain()


SCHEDULE = f"""
from django_celery_beat.models import IntervalSchedule, PeriodicTask
every, _ = IntervalSchedule.objects.get_or_create(every={FAST_INTERVAL}, period=IntervalSchedule.SECONDS)
PeriodicTask.objects.update_or_create(name={FAST_JOB!r}, defaults=dict(task={FAST_JOB!r}, interval=every, enabled=True))
"""


def _runs(path) -> list[float]:
    return [float(x) for x in path.read_text().split()] if path.exists() else []


def _beats_through_faults(stack, *, phase_sec: float):
    probe = stack.tmp / "probe-runs"
    env = {"FAULTS_PROBE_FILE": str(probe)}
    stack.shell(SCHEDULE)
    stack.worker(concurrency=2, **env)
    first = stack.beat("beat-a", **env)
    stack.beat("beat-b", **env)  # two beats at once
    procs.wait_until(lambda: len(_runs(probe)) >= 1, timeout=60, what="first run")
    time.sleep(phase_sec)
    first.send_signal(signal.SIGKILL)  # beat killed …
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    time.sleep(2)
    stack.beat("beat-a2", **env)  # … and restarted
    time.sleep(phase_sec)
    stack.redis.restart(down_sec=1.0)  # the broker and the slots' Redis restarted under them
    time.sleep(phase_sec)
    runs = _runs(probe)
    gaps = [b - a for a, b in zip(runs, runs[1:], strict=False)]
    ttl = max(1, int(FAST_INTERVAL * 0.9))
    assert min(gaps) >= ttl - 0.5, gaps  # never twice in one interval (the slot), however many beats
    assert max(gaps) <= FAST_INTERVAL + 6, gaps  # none lost: the longest gap spans a restart at most
    stack.verify_audit_chain()
    return runs


def test_two_beats_a_killed_beat_and_a_redis_restart_run_each_job_once_per_interval(stack):
    runs = _beats_through_faults(stack, phase_sec=8)
    assert len(runs) >= 5


@pytest.mark.soak
def test_beats_through_faults_for_minutes(stack):
    _beats_through_faults(stack, phase_sec=60)
