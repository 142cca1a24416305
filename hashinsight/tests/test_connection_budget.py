"""The connection budget of docs/DEPLOYMENT.md computed from the files that set each figure:
gunicorn.conf.py (workers × threads), the Procfile's Celery concurrency defaults, PgBouncer's
pool (deploy/pgbouncer/pgbouncer.ini) and the compose PostgreSQL's max_connections. The doc's
table and totals must say what these files do, and one box must fit in the server's 100."""

import configparser
import os
import re
import runpy

from hashinsight.tests import procs

BASE = procs.BASE_DIR
OPS_CONNECTIONS = 5  # migrations, manage.py shells, backups, monitoring (the doc's row)
SUPERUSER_RESERVED = 3  # PostgreSQL's default superuser_reserved_connections


def _gunicorn_connections() -> int:
    saved = os.environ.pop("WEB_CONCURRENCY", None)
    try:
        conf = runpy.run_path(str(BASE / "gunicorn.conf.py"))
    finally:
        if saved is not None:
            os.environ["WEB_CONCURRENCY"] = saved
    return conf["workers"] * conf.get("threads", 1)


def _procfile_workers() -> dict[str, int]:
    """Connections of each Celery worker line: its default concurrency + 1 (the main process)."""
    out = {}
    for line in (BASE / "Procfile").read_text().splitlines():
        name, _, command = line.partition(": ")
        if " worker " in command:
            (default,) = re.findall(r"--concurrency \$\{\w+:-(\d+)\}", command)
            out[name] = int(default) + 1
    return out


def _pgbouncer_pool() -> int:
    ini = configparser.ConfigParser(delimiters=("=",), inline_comment_prefixes=(";",))
    ini.read(BASE / "deploy" / "pgbouncer" / "pgbouncer.ini")
    assert ini["pgbouncer"]["pool_mode"].strip() == "transaction"
    return int(ini["pgbouncer"]["default_pool_size"])


def _max_connections() -> int:
    compose = (BASE / "docker-compose.yml").read_text()
    (value,) = re.findall(r'"max_connections=(\d+)"', compose)
    return int(value)


def _doc_section() -> str:
    text = (BASE / "docs" / "DEPLOYMENT.md").read_text()
    start = text.index("## Connection budget")
    return text[start : text.index("\n## ", start + 1)]


def test_one_box_fits_in_max_connections_and_the_doc_says_the_same_figures():
    web, workers, beat, pool = _gunicorn_connections(), _procfile_workers(), 1, _pgbouncer_pool()
    assert set(workers) == {"worker", "worker-reports"}
    rest = sum(workers.values()) + beat + OPS_CONNECTIONS + SUPERUSER_RESERVED
    direct, through_pgbouncer = web + rest, pool + rest
    limit = _max_connections()
    assert limit == 100
    assert direct <= through_pgbouncer <= limit * 0.8  # 20 left for admin, migrations and reserve

    doc = _doc_section()
    rows = {
        cells[0]: cells[-1]
        for cells in (
            [c.strip() for c in line.strip("|").split("|")] for line in doc.splitlines() if line.startswith("| ")
        )
    }
    assert rows["gunicorn (sync workers)"] == str(web)
    assert rows["celery worker, queue `ingest`"] == str(workers["worker"])
    assert rows["celery worker, queue `reports`"] == str(workers["worker-reports"])
    assert rows["celery beat"] == str(beat)
    assert rows["migrations, `manage.py` shells, backups, monitoring"] == str(OPS_CONNECTIONS)
    assert rows["PostgreSQL `superuser_reserved_connections`"] == str(SUPERUSER_RESERVED)
    assert rows["PgBouncer (when web goes through it)"] == str(pool)
    assert f"**one box, direct: {direct} of {limit}**" in doc
    assert f"**one box, web through PgBouncer: {through_pgbouncer} of {limit}**" in doc
