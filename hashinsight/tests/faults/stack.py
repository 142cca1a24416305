"""The fault matrix's own servers (docs/OPERATIONS.md "Fault matrix"): a PostgreSQL cluster
(core.devcluster: initdb + pg_ctl in a temporary directory on a free port) and a redis-server on a free port, which the tests
restart and kill freely — the shared PostgreSQL and Redis are never touched — and the product's
processes (gunicorn, celery worker and beat) pointed at them.

The cluster's database is migrated once per session by `manage.py migrate`."""

import gzip
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import psycopg2
import requests

from core import devcluster
from hashinsight.tests import procs

DB_NAME = "hashinsight_faults"
# The cluster the tests crash and restart: durability is what recovery from WAL proves, not fsync.
FAULT_SETTINGS = {"fsync": "off", "max_connections": "100"}


class PgCluster(devcluster.PgCluster):
    """core.devcluster's throwaway cluster, with the fault matrix's database on it."""

    def __init__(self):
        super().__init__(FAULT_SETTINGS, prefix="hi-faults-pg-")

    def url(self, db: str = DB_NAME) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def migrate(self) -> None:
        """DB_NAME, migrated by the product's own `manage.py migrate`."""
        devcluster.as_postgres(
            [devcluster.PG_BIN / "createdb", "-h", "127.0.0.1", "-p", self.port, "-U", "postgres", DB_NAME]
        )
        env = procs.service_env(DATABASE_URL=self.url())
        result = procs.manage("migrate", "--noinput", env=env, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr

    def connect(self):
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=DB_NAME)
        conn.autocommit = True
        return conn

    def scalar(self, sql: str, params=None):
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
        conn.close()
        return row[0] if row else None


class RedisServer:
    """Append-only with fsync on every write: what a broker Redis must be (docs/DEPLOYMENT.md)."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="hi-faults-redis-"))
        self.port = procs.free_port()
        self.proc = None
        self.start()

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        args += ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        self.proc = procs.start(args, env=procs.clean_env(), log=self.dir / "redis.log")
        procs.wait_until(lambda: procs.listening(self.port), proc=self.proc, what="redis listening")

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc.log_file.close()

    def restart(self, down_sec: float = 0.0):
        self.kill()
        time.sleep(down_sec)
        self.start()

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def destroy(self):
        if self.proc and self.proc.poll() is None:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Stack:
    pg: PgCluster
    redis: RedisServer
    tmp: Path
    started: list = field(default_factory=list)

    def env(self, **overrides) -> dict:
        return procs.service_env(
            DATABASE_URL=self.pg.url(),
            REDIS_URL=self.redis.url(0),
            CELERY_BROKER_URL=self.redis.url(1),
            CACHE_KEY_PREFIX="hi-faults",
            WEB_CONCURRENCY="2",
            MEDIA_ROOT=str(self.tmp / "media"),
            **overrides,
        )

    def _track(self, proc):
        self.started.append(proc)
        return proc

    def gunicorn(self, **env):
        port = procs.free_port()
        proc = procs.start(
            [procs.PYTHON, "-m", "gunicorn", "hashinsight.wsgi", "-c", "gunicorn.conf.py"],
            env=self.env(HOST="127.0.0.1", PORT=str(port), **env),
            log=self.tmp / f"gunicorn-{port}.log",
        )
        self._track(proc)
        procs.wait_until(lambda: procs.http_get(port, "/alive"), proc=proc, what="gunicorn answering")
        proc.port = port
        return proc

    def worker(self, name: str = "faults", concurrency: int = 1, **env):
        args = [procs.PYTHON, "-m", "celery", "-A", "hashinsight", "worker", "--loglevel", "INFO"]
        args += ["--concurrency", str(concurrency), "--pool", "prefork", "--without-gossip", "--without-mingle"]
        args += ["--without-heartbeat", "--hostname", f"{name}@%h", "--include", "hashinsight.tests.periodic_probe"]
        args += ["-Q", "ingest,reports"]  # both queues (CELERY_TASK_ROUTES): the matrix kills one worker doing either
        proc = self._track(procs.start(args, env=self.env(**env), log=self.tmp / f"worker-{name}.log"))
        procs.wait_until(lambda: " ready." in proc.log_path.read_text(errors="replace"), proc=proc, what="worker ready")
        return proc

    def beat(self, name: str = "beat", **env):
        args = [procs.PYTHON, "-m", "celery", "-A", "hashinsight", "beat", "--loglevel", "INFO"]
        args += ["--pidfile", str(self.tmp / f"{name}.pid"), "--max-interval", "1"]
        return self._track(procs.start(args, env=self.env(**env), log=self.tmp / f"{name}.log"))

    def shell(self, code: str, **env) -> str:
        """Python run by `manage.py shell` against this stack (set-up, checks); its stdout."""
        result = procs.manage("shell", "-c", code, env=self.env(**env), timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def verify_audit_chain(self) -> str:
        result = procs.manage("verify_audit_chain", env=self.env(), timeout=120)
        assert result.returncode == 0 and "PASS" in result.stdout, result.stdout + result.stderr
        return result.stdout

    def stop_all(self):
        for proc in reversed(self.started):
            procs.stop(proc)
        self.started.clear()


def fill_up(directory: Path, *, leave: int, name: str = "filler") -> Path:
    """Fill the filesystem of `directory` with one file, then give back `leave` bytes."""
    filler = directory / name
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def children(pid: int) -> list[int]:
    """Direct children of a process (the prefork pool of a celery worker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


# --- a collector, as the field one behaves (COLLECTOR_PROTOCOL §2.4–2.6) --------------------------

# Answers after which the collector keeps the batch in its spool and sends it again: every answer but
# a 2xx (§2.4). A retryable fault must produce one of these, never a 4xx that says "your data is bad".
RETRYABLE = {429, 500, 502, 503, 504}


def record(miner_id: str, ts) -> dict:
    from telemetry.tests.ingest_fixtures import record as full_record

    return full_record(miner_id, ts)


@dataclass
class Collector:
    port: int
    token: str
    site: str
    device_id: str = "faults-device-0001"
    spool: list = field(default_factory=list)
    answers: list = field(default_factory=list)  # (status or exception name) per attempt

    def headers(self, mode: str = "raw") -> dict:
        return {
            "X-Collector-Key": self.token,
            "Authorization": f"Bearer {self.token}",
            "X-Site-ID": self.site,
            "X-Device-ID": self.device_id,
            "X-Upload-Mode": mode,
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
            "Connection": "close",
        }

    def send(self, records: list[dict]) -> dict | None:
        """One upload; None (and the batch spooled) on any failure."""
        body = gzip.compress(orjson.dumps(records))
        try:
            response = requests.post(
                f"http://127.0.0.1:{self.port}/api/edge/v1/telemetry/batch",
                data=body,
                headers=self.headers(),
                timeout=15,
            )
        except requests.RequestException as exc:
            self.answers.append(type(exc).__name__)
            self.spool.append(records)
            return None
        self.answers.append(response.status_code)
        if response.status_code // 100 != 2:
            assert response.status_code in RETRYABLE, (response.status_code, response.text[:500])
            assert "error_code" in response.json(), response.text[:500]
            if response.status_code in (429, 503):  # when to come back
                assert int(response.headers["Retry-After"]) > 0, response.headers
            self.spool.append(records)
            return None
        return response.json()

    def replay(self, *, deadline_sec: float = 60) -> None:
        """Send the spool until it is empty (the field collector does this one batch per tick)."""
        end = time.monotonic() + deadline_sec
        while self.spool:
            assert time.monotonic() < end, f"spool not drained: {len(self.spool)} left, answers {self.answers[-10:]}"
            batch = self.spool.pop(0)
            if self.send(batch) is None:
                time.sleep(0.5)

    def poll(self) -> int | str:
        try:
            response = requests.get(
                f"http://127.0.0.1:{self.port}/api/edge/v1/commands/poll", headers=self.headers(), timeout=15
            )
        except requests.RequestException as exc:
            return type(exc).__name__
        if response.status_code not in (200, 204):
            assert response.status_code in RETRYABLE, (response.status_code, response.text[:500])
        return response.status_code


SEED = """
from audit.services import Actor
from tenants.models import Tenant
from tenants.services import collector_token_create
from tests.factories import CollectorFactory, SiteFactory, TenantFactory
if not Tenant.objects.filter(is_operator=True).exists():
    TenantFactory(slug="operator", name="Operator", is_operator=True)
site = SiteFactory(code={code!r})
collector = CollectorFactory(site=site, name="edge-" + {code!r}.lower())
_, token = collector_token_create(actor=Actor.system("test.faults"), collector=collector)
print("TOKEN=" + token)
"""


def seed_site(stack: Stack, code: str) -> str:
    """A site with one collector; its token."""
    out = stack.shell(SEED.format(code=code))
    return next(line[6:] for line in out.splitlines() if line.startswith("TOKEN="))
