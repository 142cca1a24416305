"""Start and stop the real processes (gunicorn, celery worker and beat, manage.py) that the ops
tests talk to, pointed at the test database, the test Redis and the test broker."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
PYTHON = sys.executable
WAIT_SEC = 30


def database_url() -> str:
    db = settings.DATABASES["default"]
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def direct_database_url() -> str | None:
    """The test database on PostgreSQL itself when DATABASE_DIRECT_URL is set (`make test-pgbouncer`:
    DATABASE_URL is PgBouncer), for the worker, beat and manage.py processes a test starts."""
    if not settings.DATABASE_DIRECT_URL:
        return None
    return urlunsplit(urlsplit(settings.DATABASE_DIRECT_URL)._replace(path="/" + settings.DATABASES["default"]["NAME"]))


def direct_connect():
    """A psycopg2 connection to the test database on PostgreSQL itself, past PgBouncer under
    `make test-pgbouncer`: a second session that holds session-level locks, as a worker's does
    (through the pooler they would stay on a server connection that the suite's next
    transactions may or may not get)."""
    import psycopg2

    db = settings.DATABASES["default"]
    if settings.DATABASE_DIRECT_URL:
        direct = urlsplit(settings.DATABASE_DIRECT_URL)
        host, port = direct.hostname, direct.port or 5432
    else:
        host, port = db["HOST"], db["PORT"]
    return psycopg2.connect(dbname=db["NAME"], user=db["USER"], host=host, port=port, password=db["PASSWORD"])


def connect_as_worker() -> None:
    """Point this thread's default database connection at PostgreSQL itself, as a worker's is
    (DATABASE_DIRECT_URL; nothing to do unless `make test-pgbouncer`). For tests that run worker
    code in threads of their own: core/periodic.py's session advisory lock, taken in autocommit
    through the transaction pool, would land on whatever server connection another thread had
    just released, and be granted twice."""
    from django.db import connection

    if not settings.DATABASE_DIRECT_URL:
        return
    direct = urlsplit(settings.DATABASE_DIRECT_URL)
    connection.close()
    connection.settings_dict = {**connection.settings_dict, "HOST": direct.hostname, "PORT": direct.port or 5432}


def clean_env(**overrides) -> dict:
    """An environment with nothing inherited but PATH/HOME: what a supervisor would pass."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}
    env.update({"PYTHONUNBUFFERED": "1", "ENV_FILE": ""})  # never a developer's .env
    env.update({k: v for k, v in overrides.items() if v is not None})
    return env


def service_env(**overrides) -> dict:
    """Same database (the test one), cache keys and broker as this test process."""
    values = {
        "TESTING": "1",
        "DEBUG": "False",
        "DATABASE_URL": database_url(),
        # A test that names its own DATABASE_URL (another cluster) means it for every process.
        "DATABASE_DIRECT_URL": None if "DATABASE_URL" in overrides else direct_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    return clean_env(**{**values, **overrides})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list, *, env: dict, log: Path) -> subprocess.Popen:
    # Output goes to a file, not a pipe: a pipe nobody reads would block the process when full.
    out = open(log, "wb")
    proc = subprocess.Popen(args, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_file = out
    proc.log_path = log
    return proc


def stop(proc: subprocess.Popen) -> None:
    """TERM the process group (gunicorn and celery have children), KILL it if it lingers."""
    try:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # A parent that exited may leave children in its group: make sure none survive.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    finally:
        proc.log_file.close()


def wait_until(predicate, *, timeout=WAIT_SEC, interval=0.2, proc=None, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: process exited with {proc.returncode}\n{log_tail(proc)}")
        if time.monotonic() > deadline:
            detail = f"\n{log_tail(proc)}" if proc is not None else ""
            raise AssertionError(f"{what}: not reached within {timeout}s{detail}")
        time.sleep(interval)


def log_tail(proc, lines=40) -> str:
    proc.log_file.flush()
    return "\n".join(proc.log_path.read_text(errors="replace").splitlines()[-lines:])


def json_lines(proc) -> list[dict]:
    """The structured log lines a process wrote (anything else — banners — is skipped)."""
    records = []
    for line in proc.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
    return records


def manage(*args, env: dict, timeout=WAIT_SEC) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout
    )


def python(*args, env: dict, timeout=WAIT_SEC) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout)


def http_get(port: int, path: str, **kwargs):
    """A fresh connection per call (no keep-alive), so gunicorn spreads calls over its workers.
    None while nothing listens yet, or while the listening master has no booted worker to answer
    (on a loaded box the app takes more than the read timeout to import)."""
    import requests

    try:
        headers = {"Connection": "close", **kwargs.pop("headers", {})}
        return requests.get(f"http://127.0.0.1:{port}{path}", timeout=10, headers=headers, **kwargs)
    except (requests.ConnectionError, requests.Timeout):
        return None


def start_gunicorn(tmp_path: Path, **env_overrides):
    port = free_port()
    env = service_env(HOST="127.0.0.1", PORT=str(port), **env_overrides)
    server = start(
        [PYTHON, "-m", "gunicorn", "hashinsight.wsgi", "-c", "gunicorn.conf.py"], env=env, log=tmp_path / "gunicorn.log"
    )
    try:
        wait_until(lambda: http_get(port, "/alive"), proc=server, what="gunicorn answering")
    except BaseException:
        stop(server)
        raise
    server.port = port
    return server


def start_nginx(tmp_path: Path, *, app_port: int, **env_overrides):
    """The single box's nginx (scripts/nginx.sh, deploy/nginx/single-box.conf.in) on a free port,
    in front of gunicorn on `app_port`."""
    port = free_port()
    env = clean_env(PORT=str(port), APP_PORT=str(app_port), NGINX_RUN_DIR=str(tmp_path / "nginx"), **env_overrides)
    proxy = start([str(BASE_DIR / "scripts" / "nginx.sh")], env=env, log=tmp_path / "nginx.log")
    try:
        wait_until(lambda: listening(port), proc=proxy, what="nginx listening")
    except BaseException:
        stop(proxy)
        raise
    proxy.port = port
    return proxy


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
