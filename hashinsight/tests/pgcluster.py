"""Throwaway PostgreSQL clusters on loopback for the scale-out tests: a primary (initdb + pg_ctl in
a temp dir on a free port, wal_level=replica), a streaming replica of it (pg_basebackup -R) and a
PgBouncer in front. Never the shared server on 5432. As root, the server binaries run as the
postgres user (PostgreSQL refuses to run as root)."""

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from django.conf import settings

from hashinsight.tests import procs


def bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    assert found, "PostgreSQL server binaries are missing (/usr/lib/postgresql/*/bin)"
    return Path(found[-1])


def _as_postgres(args: list) -> list:
    return ["runuser", "-u", "postgres", "--", *map(str, args)] if os.geteuid() == 0 else list(map(str, args))


def run(args: list, *, timeout=120, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run(_as_postgres(args), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{args[0]} failed: {result.stdout}\n{result.stderr}")
    return result


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


class Cluster:
    def __init__(self, root: Path, name: str):
        self.dir = root / name
        self.port = procs.free_port()
        self.log = root / f"{name}.log"

    def url(self, db: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        run([bin_dir() / "pg_ctl", "-D", self.dir, "-l", self.log, "-w", "-t", "60", "start"])

    def stop(self) -> None:
        if (self.dir / "postmaster.pid").exists():
            run([bin_dir() / "pg_ctl", "-D", self.dir, "-m", "immediate", "-w", "stop"], check=False)

    def psql(self, sql: str, db: str = "postgres") -> str:
        result = subprocess.run(
            [bin_dir() / "psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", self.url(db), "-c", sql],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()


def remove(*clusters: Cluster) -> None:
    for cluster in clusters:
        cluster.stop()
    if clusters:
        shutil.rmtree(clusters[0].dir.parent, ignore_errors=True)


def _root() -> Path:
    # Not pytest's tmp_path: its parents are root's (mode 700), which the postgres user cannot enter.
    root = Path(tempfile.mkdtemp(prefix="hi-pg-"))
    _own(root)
    return root


def primary_start() -> Cluster:
    root = _root()
    primary = Cluster(root, "primary")
    run([bin_dir() / "initdb", "-D", primary.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
    with open(primary.dir / "postgresql.conf", "a") as conf:
        conf.write(
            f"port = {primary.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{root}'\n"
            "wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\nfsync = off\n"
            "max_connections = 60\nshared_buffers = 32MB\n"
        )
    with open(primary.dir / "pg_hba.conf", "a") as hba:
        hba.write("host replication postgres 127.0.0.1/32 trust\n")
    primary.start()
    return primary


def replica_start(primary: Cluster, conf: str = "") -> Cluster:
    """`conf`: more postgresql.conf lines for the replica (e.g. a short max_standby_streaming_delay)."""
    replica = Cluster(primary.dir.parent, "replica")
    run(
        [
            bin_dir() / "pg_basebackup",
            "-D",
            replica.dir,
            "-h",
            "127.0.0.1",
            "-p",
            primary.port,
            "-U",
            "postgres",
            "-R",
            "-c",
            "fast",
            "-N",
        ]
    )
    with open(replica.dir / "postgresql.conf", "a") as f:
        f.write(f"port = {replica.port}\n{conf}")
    replica.start()
    return replica


def copy_test_database(primary: Cluster, db: str = "hi") -> str:
    """The suite's test database (schema and rows, as migrated) copied into `primary` as `db`."""
    source = settings.DATABASES["default"]
    primary.psql(f"CREATE DATABASE {db}")
    dump = subprocess.run(
        [bin_dir() / "pg_dump", "--no-owner", "--no-privileges", procs.database_url()],
        capture_output=True,
        timeout=300,
    )
    assert dump.returncode == 0, dump.stderr.decode()[-2000:]
    load = subprocess.run(
        [bin_dir() / "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", primary.url(db)],
        input=dump.stdout,
        capture_output=True,
        timeout=300,
    )
    assert load.returncode == 0, load.stderr.decode()[-2000:]
    assert source["NAME"]
    return primary.url(db)


def wait_replayed(primary: Cluster, replica: Cluster, timeout=60) -> None:
    lsn = primary.psql("SELECT pg_current_wal_lsn()")
    deadline = time.monotonic() + timeout
    while replica.psql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn") != "t":
        assert time.monotonic() < deadline, "replica did not catch up"
        time.sleep(0.2)


def pgbouncer_config(
    directory: Path, *, upstream_port: int, port: int, pool_size: int = 20, pool_mode: str = "transaction"
) -> Path:
    """deploy/pgbouncer/pgbouncer.ini with this run's ports and files: transaction pooling (or
    `pool_mode`), trust on loopback (the tests' PostgreSQL trusts loopback too)."""
    template = (procs.BASE_DIR / "deploy" / "pgbouncer" / "pgbouncer.ini").read_text()
    text = (
        template.replace("port=5432", f"port={upstream_port}")
        .replace("listen_port = 6432", f"listen_port = {port}")
        .replace("default_pool_size = 20", f"default_pool_size = {pool_size}")
        .replace("pool_mode = transaction", f"pool_mode = {pool_mode}")
        .replace("/var/run/postgresql", str(directory))
        .replace("/var/log/postgresql/pgbouncer.log", str(directory / "pgbouncer.log"))
        .replace("auth_type = scram-sha-256", "auth_type = trust")
        .replace("auth_file = /etc/pgbouncer/userlist.txt", f"auth_file = {directory / 'userlist.txt'}")
    )
    (directory / "userlist.txt").write_text('"postgres" ""\n')
    ini = directory / "pgbouncer.ini"
    ini.write_text(text)
    for path in (directory, ini, directory / "userlist.txt"):
        _own(path)
    return ini


def pgbouncer_start(*, upstream_port: int, pool_size: int = 20, pool_mode: str = "transaction"):
    """PgBouncer (Debian's /usr/sbin/pgbouncer) on a free loopback port; returns (process, port, dir)."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    assert os.path.exists(binary), "pgbouncer is missing: make tools (scripts/ensure_tools.sh)"
    directory = _root()
    port = procs.free_port()
    ini = pgbouncer_config(directory, upstream_port=upstream_port, port=port, pool_size=pool_size, pool_mode=pool_mode)
    proc = procs.start(_as_postgres([binary, ini]), env=procs.clean_env(), log=directory / "stdout.log")
    procs.wait_until(lambda: procs.listening(port), proc=proc, what="pgbouncer listening")
    return proc, port, directory
