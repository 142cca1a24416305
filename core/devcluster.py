"""A throwaway PostgreSQL cluster on loopback (initdb + pg_ctl in a temporary directory, a free port),
for the fault matrix (hashinsight/tests/faults/stack.py) and the benches' `--own-cluster` runs. Never
the shared server on 5432. As root, the server binaries run as the postgres user (PostgreSQL refuses
to run as root). No Django here: a bench starts a cluster before it sets Django up.

`production_settings()` reads the server settings production runs with from ONE place, the postgres
service's command in docker-compose.yml (docs/DEPLOYMENT.md, "PostgreSQL settings that matter");
everything it does not set stays at PostgreSQL's default, as in production (autovacuum, fsync and
synchronous_commit on)."""

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), Path("/usr/bin"))
# What production gets by leaving them at PostgreSQL's defaults (the compose file sets none of
# them); the benches measure durable commits with autovacuum running.
DEFAULTS_PRODUCTION_KEEPS = {"autovacuum": "on", "fsync": "on", "synchronous_commit": "on"}
_UNITS = {"kB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40, "ms": 0.001, "s": 1, "min": 60, "h": 3600, "d": 86400}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(args: list, **kwargs) -> subprocess.CompletedProcess:
    """Run a server binary (as the postgres user when we are root); raises on a non-zero exit."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + [str(a) for a in args], capture_output=True, text=True, check=True, **kwargs)


def production_settings(compose_file: Path = COMPOSE_FILE) -> dict[str, str]:
    """The `-c name=value` settings of the postgres service's command in the compose file."""
    command = yaml.safe_load(compose_file.read_text())["services"]["postgres"]["command"]
    if command[0] != "postgres" or set(command[1::2]) != {"-c"}:
        raise ValueError(f"{compose_file}: the postgres command is not `postgres -c name=value ...`: {command}")
    return dict(arg.split("=", 1) for arg in command[2::2])


def expected_settings(compose_file: Path = COMPOSE_FILE) -> dict[str, str]:
    """What a production server runs with: the compose file's settings and the defaults it keeps."""
    return DEFAULTS_PRODUCTION_KEEPS | production_settings(compose_file)


def _comparable(value: str) -> float | str:
    """'8GB' and '8192MB' alike (bytes), '15min' and '900s' alike (seconds); other values as words."""
    m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value)
    if m and (not m[2] or m[2] in _UNITS):
        return float(m[1]) * _UNITS.get(m[2], 1)
    return value.strip().lower()


def settings_differing(server: dict[str, str], expected: dict[str, str] | None = None) -> list[str]:
    """'name = server's value (production: value)' for each expected setting the server has otherwise
    (`server`: name → current_setting(name))."""
    expected = expected_settings() if expected is None else expected
    return [
        f"{name} = {server.get(name)} (production: {want})"
        for name, want in expected.items()
        if server.get(name) is None or _comparable(server[name]) != _comparable(want)
    ]


class PgCluster:
    """initdb'd in a fresh temporary directory (under `parent`, else the system's) and started with
    `settings` (name → value, as `-c` options) on a free loopback port, trust authentication for
    the postgres user. `restart`/`stop`/`start` at will; `destroy` stops it and removes the files.
    One not destroyed by its owner is destroyed when the process that made it exits (normally, on
    Ctrl-C, or on TERM/HUP after `exit_on_signals()`), never by a forked child's exit."""

    def __init__(self, settings: dict[str, str], *, prefix: str = "hi-pg-", parent: str | None = None):
        self.owner = os.getpid()
        self.settings = dict(settings)
        self.dir = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        self.data = self.dir / "data"
        self.log = self.dir / "pg.log"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        try:
            initdb = [PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]
            as_postgres(initdb)
            _LIVE.add(self)
            self.start()
        except BaseException:
            self.destroy()
            raise

    def options(self) -> str:
        """The postgres command line: where it listens, then exactly `settings`."""
        where = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        return " ".join([where, *(f"-c {name}={value}" for name, value in self.settings.items())])

    def _ctl(self, *args) -> subprocess.CompletedProcess:
        return as_postgres([PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-o", self.options(), *args])

    def start(self) -> None:
        self._ctl("start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "-m", mode)

    def restart(self, down_sec: float = 0.0, mode: str = "immediate") -> None:
        """An immediate stop is a crash (recovery from WAL on start); `down_sec` of outage between."""
        self.stop(mode)
        time.sleep(down_sec)
        self.start()

    def url(self, db: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def destroy(self, mode: str = "immediate") -> None:
        _LIVE.discard(self)
        try:
            self.stop(mode)
        except (subprocess.CalledProcessError, OSError):
            pass  # already stopped (or never started)
        shutil.rmtree(self.dir, ignore_errors=True)


# The clusters made in this process and not destroyed yet: what leaving it must not leave behind.
_LIVE: set[PgCluster] = set()


@atexit.register
def _destroy_live() -> None:
    for cluster in list(_LIVE):
        if cluster.owner == os.getpid():  # a forked child exiting leaves its parent's clusters alone
            cluster.destroy()


def exit_on_signals(signums: tuple[int, ...] = (signal.SIGTERM, signal.SIGHUP)) -> None:
    """Make TERM and HUP end this process the way Ctrl-C does: SystemExit is raised in the main
    thread, so `finally` blocks run and, at exit, every cluster still up is stopped and its directory
    removed. Without it those signals kill Python outright and leave the postmaster running and its
    files in the temporary directory (a bench under timeout(1), a cancelled CI job, a closed
    terminal). Call it from the main thread of a script (the benches' `--own-cluster`), not under
    pytest (which reports a SystemExit as a failed test and goes on). A forked child (the benches'
    collector processes) still dies of the signal as before."""
    parent = os.getpid()

    def _exit(signum, frame):
        if os.getpid() != parent:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise SystemExit(128 + signum)

    for signum in signums:
        signal.signal(signum, _exit)
