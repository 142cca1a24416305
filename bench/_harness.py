"""What every bench/*.py shares: the scratch database, timing and percentile helpers, the
target lines and the results file. Not a bench itself (`make bench` skips bench/_*.py).

A bench imports it and calls `use_scratch_database(name)` at module level, before anything
loads Django settings, then runs its measurements inside `with scratch_database():`.
"""

import datetime as dt
import json
import os
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The server of the DATABASE_URL we were started with; the scratch database is made on it.
_server = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hashinsight"))
_database = None


def use_server(url: str) -> None:
    """Make the scratch database on the server of `url` instead (a bench's `--own-cluster`); call
    use_scratch_database(name) again after it, before anything loads Django settings."""
    global _server
    _server = urlsplit(url)


def use_scratch_database(name: str) -> None:
    """Point DATABASE_URL (Django and the raw-SQL baselines) at database `name` on the same server.
    BENCH_DB_SUFFIX is appended to the name, so two checkouts (or the suite's smoke tests) sharing
    one server do not drop each other's scratch database."""
    global _database
    name += os.environ.get("BENCH_DB_SUFFIX", "")
    _database = name
    os.environ["DATABASE_URL"] = urlunsplit(_server._replace(path=f"/{name}"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hashinsight.settings")
    os.environ.setdefault("TESTING", "1")  # dev fallbacks, no .env, DEBUG off (no query log)


def _as_admin(*statements: str) -> None:
    conn = psycopg2.connect(urlunsplit(_server._replace(path="/postgres")))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
    finally:
        conn.close()


@contextmanager
def scratch_database():
    """Create the scratch database afresh, set Django up and migrate it; on the way out (even
    after a failure) close every connection and drop the database."""
    if _database is None:
        raise RuntimeError("call use_scratch_database(name) first")
    drop = f"DROP DATABASE IF EXISTS {_database} WITH (FORCE)"
    _as_admin(drop, f"CREATE DATABASE {_database}")
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield
    finally:
        from django.db import connections

        connections.close_all()
        _as_admin(drop)


def timed(fn) -> float:
    """Seconds `fn()` takes."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    """The sample nearest rank q (0…1) of the sorted values: no interpolation."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def p95(samples: list[float]) -> float:
    """The 95th percentile as `statistics.quantiles` interpolates it (exclusive method)."""
    return statistics.quantiles(samples, n=20)[-1]


def new_results(**fields) -> dict:
    """The results record every bench writes: the machine, the time, then its own fields."""
    return {"machine": {"cpus": os.cpu_count()}, "at": dt.datetime.now(dt.UTC).isoformat(), **fields}


def mark(met: bool) -> str:
    return "OK  " if met else "MISS"


def at_least(name: str, value: float, target: float, label: str) -> tuple:
    """A target met when value ≥ target, for `report_targets`."""
    return (name, value, target, label, value >= target)


def report_targets(r: dict, targets: list[tuple]) -> None:
    """Print one OK/MISS line per (name, value, target, label, met) and record them in r["targets"]."""
    r["targets"] = {}
    for name, value, target, label, met in targets:
        r["targets"][name] = {"value": value, "target": target, "met": met}
        print(f"  {mark(met)} {name}: {value:,.2f} (target {label})")


def write_results(prefix: str, r: dict) -> Path:
    """Write r to bench/results/<prefix>_<UTC timestamp>.json (BENCH_RESULTS_DIR: elsewhere) and say where."""
    out_dir = Path(os.environ.get("BENCH_RESULTS_DIR") or ROOT / "bench" / "results")
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{prefix}_{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(r, indent=2, default=str))
    print(f"  written to {out}")
    return out
