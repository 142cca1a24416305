"""`make test-pgbouncer`: the whole suite (every directory of pytest.ini's testpaths, the fault
matrix excepted) with every database connection of pytest and of the web processes it starts through
PgBouncer in transaction pooling mode (deploy/pgbouncer/pgbouncer.ini, started on a free port in
front of DATABASE_URL's server), with DB_CONN_MAX_AGE=0 and DB_DISABLE_SERVER_SIDE_CURSORS=True as
docs/DEPLOYMENT.md asks. DATABASE_DIRECT_URL names the same database on PostgreSQL itself: the Celery
worker and beat processes a test starts use it, as in production (they refuse a transaction pooler).

pytest runs with --reuse-db on its own test database (test_<name>_pgbouncer): PgBouncer keeps server
connections to it open, so it is created once, migrated, and left for the next run instead of
dropped. Paths among the arguments replace the default list (PYTEST_ARGS); options alone are added
to it."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
# Every directory of pytest.ini's testpaths (tests/test_pgbouncer_suites.py checks none is missed).
SUITES = [
    "core",
    "audit",
    "tenants",
    "telemetry",
    "control",
    "hosting",
    "rules",
    "portal",
    "hashinsight/tests",
    "verification",
    "tests",
]
# Not through the pooler, each for a reason (docs/DEPLOYMENT.md "PgBouncer"):
EXCLUDED = [
    # The fault matrix builds its own PostgreSQL cluster and restarts it (and Redis) under real
    # processes: it never uses DATABASE_URL's server, so a pooler in front of that proves nothing.
    "hashinsight/tests/faults",
]


def pytest_args(argv: list[str]) -> list[str]:
    """Paths given replace the default list; options alone (`-x`, `-rA`, `-kname`) are added to it,
    or pytest would fall back to pytest.ini's testpaths, EXCLUDED ones included."""
    default = [*SUITES, *(f"--ignore={path}" for path in EXCLUDED)]
    if all(arg.startswith("-") for arg in argv):
        return [*default, *argv]
    return argv


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hashinsight.settings")
    os.environ.setdefault("TESTING", "1")
    import django

    django.setup()
    from hashinsight.tests import pgcluster, procs

    upstream = urlsplit(procs.database_url())
    proc, port, directory = pgcluster.pgbouncer_start(upstream_port=upstream.port or 5432, pool_size=30)
    try:
        # Its own test database (test_<name>_pgbouncer, kept by --reuse-db): never make test's.
        direct = upstream._replace(path=upstream.path + "_pgbouncer")
        pooled = direct._replace(netloc=upstream.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{port}")
        env = {
            **os.environ,
            "DATABASE_URL": urlunsplit(pooled),
            "DATABASE_DIRECT_URL": urlunsplit(direct),
            "DB_CONN_MAX_AGE": "0",
            "DB_DISABLE_SERVER_SIDE_CURSORS": "True",
        }
        print(f"test-pgbouncer: pytest through PgBouncer on 127.0.0.1:{port} (transaction pooling)", flush=True)
        args = [sys.executable, "-m", "pytest", "--reuse-db", *pytest_args(argv)]
        return subprocess.call(args, cwd=BASE_DIR, env=env)
    finally:
        procs.stop(proc)
        subprocess.run(["rm", "-rf", str(directory)], check=False)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
