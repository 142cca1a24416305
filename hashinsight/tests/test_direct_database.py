"""Celery worker and beat never run on a transaction-pooling PgBouncer (docs/DEPLOYMENT.md
"PgBouncer"): they connect to DATABASE_DIRECT_URL when it is set, web to DATABASE_URL, and a
worker or beat that would still reach a transaction pooler refuses to start with one line."""

import subprocess
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.cache import cache
from django.db import connection

from hashinsight.celery import app
from hashinsight.settings_env import process_role
from hashinsight.startup import transaction_pooled
from hashinsight.tests import pgcluster, procs
from hashinsight.tests.periodic_probe import JOB, RUNS_KEY


@pytest.mark.parametrize(
    ("argv", "role"),
    [
        ([".venv/bin/celery", "-A", "hashinsight", "worker", "--loglevel", "INFO", "-Q", "ingest"], "worker"),
        (["/app/.venv/lib/python3.11/site-packages/celery/__main__.py", "-A", "hashinsight", "beat"], "beat"),
        (["celery", "--app=hashinsight", "worker", "-B"], "worker"),
        (["celery", "-A", "worker", "beat"], "beat"),  # an app called "worker" is the -A value
        ([".venv/bin/celery", "-A", "hashinsight", "inspect", "ping", "--destination", "worker@h"], ""),
        (["manage.py", "migrate", "--noinput"], "manage"),
        (["manage.py", "runserver"], ""),
        ([".venv/bin/gunicorn", "hashinsight.wsgi", "-c", "gunicorn.conf.py"], ""),
        (["/usr/bin/pytest", "hashinsight"], ""),
        ([], ""),
    ],
)
def test_the_process_role_comes_from_the_command_line(argv, role):
    assert process_role(argv) == role


_SHOW_DATABASE = (
    "import sys; sys.argv = {argv!r}; import django; django.setup(); from django.conf import settings; "
    "db = settings.DATABASES['default']; print(settings.PROCESS_ROLE, db['HOST'], db['PORT'], db['NAME'])"
)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["celery", "-A", "hashinsight", "worker"], "worker 10.0.0.2 5432 direct"),
        (["celery", "-A", "hashinsight", "beat"], "beat 10.0.0.2 5432 direct"),
        (["manage.py", "migrate"], "manage 10.0.0.2 5432 direct"),
        (["gunicorn", "hashinsight.wsgi"], " 10.0.0.1 6432 pooled"),
    ],
)
def test_worker_beat_and_manage_py_use_database_direct_url_and_web_database_url(argv, expected):
    env = procs.service_env(
        DATABASE_URL="postgres://app@10.0.0.1:6432/pooled", DATABASE_DIRECT_URL="postgres://app@10.0.0.2:5432/direct"
    )
    env["DJANGO_SETTINGS_MODULE"] = "hashinsight.settings"
    result = procs.python("-c", _SHOW_DATABASE.format(argv=argv), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip("\n") == expected


def test_without_database_direct_url_everything_uses_database_url():
    env = procs.service_env(DATABASE_URL="postgres://app@10.0.0.1:6432/pooled")
    env["DJANGO_SETTINGS_MODULE"] = "hashinsight.settings"
    argv = ["celery", "-A", "hashinsight", "worker"]
    result = procs.python("-c", _SHOW_DATABASE.format(argv=argv), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip("\n") == "worker 10.0.0.1 6432 pooled"


def _bouncer(pool_mode: str):
    upstream = urlsplit(procs.direct_database_url() or procs.database_url())
    proc, port, directory = pgcluster.pgbouncer_start(
        upstream_port=upstream.port or 5432, pool_size=5, pool_mode=pool_mode
    )
    proc.url = urlunsplit(upstream._replace(netloc=upstream.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{port}"))
    proc.directory = directory
    return proc


@pytest.fixture
def bouncer(django_db_setup):
    proc = _bouncer("transaction")
    try:
        yield proc
    finally:
        procs.stop(proc)
        subprocess.run(["rm", "-rf", str(proc.directory)], check=False)


def _wrapper(url: str):
    from django.db.backends.postgresql.base import DatabaseWrapper

    parts = urlsplit(url)
    return DatabaseWrapper({**connection.settings_dict, "HOST": parts.hostname, "PORT": parts.port}, alias="probe")


@pytest.mark.slow
def test_the_pooler_probe_tells_transaction_pooling_from_postgresql_and_session_pooling(bouncer, django_db_setup):
    assert transaction_pooled(_wrapper(bouncer.url)) is True
    assert transaction_pooled(_wrapper(procs.direct_database_url() or procs.database_url())) is False
    session = _bouncer("session")
    try:
        assert transaction_pooled(_wrapper(session.url)) is False  # a server connection per client: fine
    finally:
        procs.stop(session)
        subprocess.run(["rm", "-rf", str(session.directory)], check=False)


def _celery(*args, env: dict, log) -> subprocess.Popen:
    return procs.start([procs.PYTHON, "-m", "celery", "-A", "hashinsight", *args], env=env, log=log)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # beat writes its schedule rows before it refuses
@pytest.mark.parametrize("program", ["worker", "beat"])
def test_a_worker_or_beat_on_a_transaction_pooler_refuses_to_start_naming_the_fix(program, bouncer, tmp_path):
    env = procs.service_env(DATABASE_URL=bouncer.url)  # and no DATABASE_DIRECT_URL
    files = ["--pidfile", str(tmp_path / "beat.pid"), "--schedule", str(tmp_path / "beat-schedule")]
    extra = files if program == "beat" else ["--pool", "solo", "--without-mingle", "--without-gossip"]
    proc = _celery(program, "--loglevel", "INFO", *extra, env=env, log=tmp_path / "out.log")
    try:
        proc.wait(timeout=60)
    finally:
        procs.stop(proc)
    out = proc.log_path.read_text(errors="replace")
    assert proc.returncode == 2, out
    port = urlsplit(bouncer.url).port
    assert f"ImproperlyConfigured: celery {program} refuses to start: DATABASE_URL (127.0.0.1:{port}/" in out
    assert "set DATABASE_DIRECT_URL to PostgreSQL itself" in out
    assert " ready." not in out and "periodic.run" not in out


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_with_database_direct_url_they_start_and_a_periodic_job_runs_once(bouncer, tmp_path):
    """Web's DATABASE_URL at the pooler, DATABASE_DIRECT_URL at PostgreSQL: the deployment the
    refusal asks for. The worker starts and runs a periodic job (its session advisory lock); beat ticks."""
    direct = procs.direct_database_url() or procs.database_url()
    env = procs.service_env(DATABASE_URL=bouncer.url, DATABASE_DIRECT_URL=direct)
    app.control.purge()
    cache.set(RUNS_KEY, 0, timeout=None)
    worker_args = "worker --loglevel INFO --pool solo --without-gossip --without-mingle --without-heartbeat"
    worker_args += " --hostname direct-test@%h --include hashinsight.tests.periodic_probe -Q ingest"
    worker = _celery(*worker_args.split(), env=env, log=tmp_path / "worker.log")
    beat = None
    try:
        procs.wait_until(lambda: " ready." in worker.log_path.read_text(errors="replace"), proc=worker, what="ready")
        app.send_task(JOB)
        procs.wait_until(lambda: cache.get(RUNS_KEY) == 1, proc=worker, what="periodic job ran")
        files = ["--pidfile", str(tmp_path / "beat.pid"), "--schedule", str(tmp_path / "beat-schedule")]
        beat = _celery("beat", "--loglevel", "INFO", *files, env=env, log=tmp_path / "beat.log")
        from hashinsight.ops.beat import BEAT_TICK_KEY

        procs.wait_until(lambda: cache.get(BEAT_TICK_KEY), proc=beat, what="beat tick recorded")
    finally:
        procs.stop(worker)
        if beat is not None:
            procs.stop(beat)
    assert "refuses to start" not in worker.log_path.read_text(errors="replace")
