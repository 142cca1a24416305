"""The single box under supervisord, as `make run` starts it (deploy/supervisor/hashinsight.conf,
each program a Procfile line through scripts/proc.sh): nginx, gunicorn, the two Celery workers and beat
on the test database and broker (the simulator is left out, as with SIMULATOR=0). Each of the
gunicorn master, the worker and beat is killed with -9: supervisord logs the exit, starts it again,
the others keep their pids, `/health/deep` turns ok again from the new process and uploads go on."""

import datetime as dt
import os
import signal
import subprocess

import pytest
import requests
from django.core.cache import cache

from hashinsight.ops.beat import BEAT_TICK_KEY
from hashinsight.ops.tasks import WORKER_HEARTBEAT_KEY, heartbeat_task
from hashinsight.tests import procs
from telemetry.tests.ingest_fixtures import gz, record
from verification.fleet import miner_key_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CONF = procs.BASE_DIR / "deploy" / "supervisor" / "hashinsight.conf"
PROGRAMS = ("web", "worker", "worker-reports", "beat", "proxy")
RECOVER_SEC = 90  # a Celery worker boots in ~10 s on an idle box; two loaded cores take longer


class Box:
    def __init__(self, tmp_path):
        self.port = procs.free_port()
        self.env = procs.service_env(
            PORT=str(self.port),
            APP_PORT=str(procs.free_port()),
            HI_RUN_DIR=str(tmp_path / "run"),
            NGINX_RUN_DIR=str(tmp_path / "nginx"),
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
            SIMULATOR_AUTOSTART="false",
            WEB_CONCURRENCY="2",
            CELERY_CONCURRENCY="1",
            CELERY_REPORTS_CONCURRENCY="1",
        )
        (tmp_path / "run").mkdir()
        self.groups: set[int] = set()  # every process group a program ran in, for the clean-up

    def ctl(self, *args) -> str:
        result = subprocess.run(
            [procs.PYTHON, "-m", "supervisor.supervisorctl", "-c", str(CONF), *args],
            cwd=procs.BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return result.stdout

    def running(self) -> dict[str, int]:
        """{program: pid} of the programs supervisord reports RUNNING."""
        out = {}
        for line in self.ctl("status").splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "RUNNING" and parts[2] == "pid":
                out[parts[0]] = int(parts[3].rstrip(","))
        for pid in out.values():
            try:
                self.groups.add(os.getpgid(pid))
            except ProcessLookupError:
                pass
        return out

    def get(self, path: str):
        try:
            return requests.get(f"http://127.0.0.1:{self.port}{path}", headers={"Connection": "close"}, timeout=5)
        except requests.RequestException:
            return None

    def healthy(self) -> bool:
        response = self.get("/health/deep")
        return response is not None and response.status_code == 200


@pytest.fixture
def box(django_db_setup, tmp_path):
    box = Box(tmp_path)
    for key in (WORKER_HEARTBEAT_KEY, BEAT_TICK_KEY):
        cache.delete(key)
    supervisord = procs.start(
        [procs.PYTHON, "-m", "supervisor.supervisord", "-c", str(CONF)], env=box.env, log=tmp_path / "supervisord.log"
    )
    box.supervisord = supervisord
    try:
        procs.wait_until(
            lambda: set(box.running()) == set(PROGRAMS), timeout=RECOVER_SEC, proc=supervisord, what="all running"
        )
        yield box
    finally:
        box.running()
        procs.stop(supervisord)  # TERM: supervisord stops each program's group
        for group in box.groups:  # and whatever a killed process left behind in its own group
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _upload(box, world) -> int:
    now = dt.datetime.now(dt.UTC)
    body = gz(
        [record(m.miner_id, now, miner_key=miner_key_for(world.site_x.code, m.miner_id)) for m in world.miners_a_x]
    )
    response = requests.post(
        f"http://127.0.0.1:{box.port}/api/collector/upload",
        data=body,
        headers={
            "X-Collector-Key": world.token_x,
            "X-Site-ID": world.site_x.code,
            "X-Device-ID": "supervision-test",
            "Content-Encoding": "gzip",
            "Content-Type": "application/octet-stream",
            "Connection": "close",
        },
        timeout=10,
    )
    return response.status_code


def _recovered(box) -> bool:
    heartbeat_task.delay()  # answered by whichever worker runs now; beat sends one every 30 s too
    return box.healthy()


def _kill_and_recover(box, world, name: str, binary: str) -> None:
    before = box.running()
    victim = before[name]
    # The Procfile's own process, not a shell around it (scripts/proc.sh execs it).
    assert binary in open(f"/proc/{victim}/cmdline").read(), name
    os.kill(victim, signal.SIGKILL)
    # Its evidence in /health/deep is dropped, so only the new process can make it ok again.
    cache.delete({"worker": WORKER_HEARTBEAT_KEY, "beat": BEAT_TICK_KEY}.get(name, "none"))
    procs.wait_until(
        lambda: box.running().get(name, victim) != victim,
        timeout=RECOVER_SEC,
        proc=box.supervisord,
        what=f"{name} restarted",
    )
    procs.wait_until(
        lambda: _recovered(box), timeout=RECOVER_SEC, interval=1, proc=box.supervisord, what=f"healthy after {name}"
    )
    assert _upload(box, world) == 200, name
    after = box.running()
    assert set(after) == set(PROGRAMS), after
    assert binary in open(f"/proc/{after[name]}/cmdline").read(), name
    # The others were left alone.
    assert {k: v for k, v in after.items() if k != name} == {k: v for k, v in before.items() if k != name}
    log = procs.log_tail(box.supervisord, lines=400)
    assert f"exited: {name} (terminated by SIGKILL; not expected)" in log
    assert f"spawned: '{name}' with pid {after[name]}" in log


def test_each_process_killed_with_9_is_restarted_and_the_rest_keep_running(box, world):
    procs.wait_until(lambda: _recovered(box), timeout=RECOVER_SEC, interval=1, proc=box.supervisord, what="healthy")
    assert _upload(box, world) == 200
    for name, binary in (("web", "gunicorn"), ("worker", "celery"), ("worker-reports", "celery"), ("beat", "celery")):
        _kill_and_recover(box, world, name, binary)
