"""`make test-pgbouncer`: the API suites (telemetry, control, portal, hosting, the API tests of
tenants) with every database connection through PgBouncer in transaction pooling mode
(deploy/pgbouncer/pgbouncer.ini, started on a free port in front of DATABASE_URL's server), with
DB_CONN_MAX_AGE=0 and DB_DISABLE_SERVER_SIDE_CURSORS=True as docs/DEPLOYMENT.md asks. pytest runs
with --reuse-db on its own test database (test_<name>_pgbouncer): PgBouncer keeps server connections
to it open, so it is created once, migrated, and left for the next run instead of dropped.
Extra arguments go to pytest."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
SUITES = ["telemetry", "control", "portal", "hosting", "tenants"]


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
        url = urlunsplit(
            upstream._replace(
                netloc=upstream.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{port}", path=upstream.path + "_pgbouncer"
            )
        )
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DB_CONN_MAX_AGE": "0",
            "DB_DISABLE_SERVER_SIDE_CURSORS": "True",
        }
        print(f"test-pgbouncer: pytest through PgBouncer on 127.0.0.1:{port} (transaction pooling)", flush=True)
        args = [sys.executable, "-m", "pytest", "--reuse-db", *(argv or SUITES)]
        return subprocess.call(args, cwd=BASE_DIR, env=env)
    finally:
        procs.stop(proc)
        subprocess.run(["rm", "-rf", str(directory)], check=False)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
