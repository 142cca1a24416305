"""Collector command poll over real HTTP, before and after, in one run (issue 18 "100 collectors
polling"; the collector auth cache, tenants/collector_auth_cache.py, and the one-round-trip throttle
counter, core/api/throttling.py).

    .venv/bin/python bench/collector_poll_http_bench.py [--collectors 100] [--seconds 60] [--workers 2]
        [--ttl 10] [--before-rev REV]

Two gunicorns (`--workers` sync workers each) on one scratch database and one Redis. "after" serves
this checkout; "before" serves --before-rev (a `git worktree` of that revision, made for the run and
removed after), or without it this checkout with COLLECTOR_AUTH_CACHE_SEC=0. Both run the product's
WSGI application wrapped to count the SQL statements of each request (bench/_counting_wsgi.py).
The queue is empty: every poll is a collector's steady state, 204.

1. Redis: each server alone polled once per collector (warm), then once more per collector with
   INFO commandstats read around it: Redis commands per poll, by command.
2. HTTP: every collector on its own 5 s clock (COLLECTOR_PROTOCOL §3, a random phase) polls both
   servers each tick, one right after the other, the order alternating, for --seconds: both see
   the same load. Client-side p50/p95/p99/max per server, SQL statements per poll (the servers'
   count), and after/before ratios of the same run. Collectors are served by --processes forked
   client processes.

Prints OK/MISS (after's p95 not above before's; after's statements per poll below before's) and
exits 3 on a miss. Results: bench/results/collector_poll_http_<timestamp>.json.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

import _harness as harness

harness.use_scratch_database("hi_pollhttp")

import redis  # noqa: E402 — after use_scratch_database(), which must set DATABASE_URL before any Django import
import requests  # noqa: E402
from _harness import ROOT, new_results, report_targets, write_results  # noqa: E402
from _ingest import Gunicorn  # noqa: E402

POLL_INTERVAL_SEC = 5
PATH = "/api/edge/v1/commands/poll"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def setup(collectors: int) -> list[tuple[str, str]]:
    """`collectors` collectors, 10 per site, one token each: (plaintext, site code) per collector."""
    from audit.services import Actor
    from tenants.models import Collector, Site
    from tenants.services import collector_token_create

    made = []
    for n in range(0, collectors, 10):
        site = Site.objects.create(code=f"SITE-P{n // 10:02d}", name=f"Poll site {n // 10}")
        for i in range(min(10, collectors - n)):
            collector = Collector.objects.create(site=site, name=f"edge-{i}")
            _, plaintext = collector_token_create(actor=Actor.system("bench"), collector=collector)
            made.append((plaintext, site.code))
    return made


def headers(plaintext: str, site: str, i: int) -> dict:
    # What the field collector sends on a poll (control/tests/factories.py collector_headers).
    return {
        "X-Collector-Key": plaintext,
        "Authorization": f"Bearer {plaintext}",
        "X-Site-ID": site,
        "X-Device-ID": f"dev-{i}",
        "X-Edge-ID": f"dev-{i}",
    }


def poll(session, url: str, head: dict) -> tuple[float, int]:
    started = time.perf_counter()
    response = session.get(url + PATH, headers=head, timeout=30)
    elapsed = time.perf_counter() - started
    if response.status_code != 204:
        raise RuntimeError(f"{url}: poll answered {response.status_code}: {response.text[:200]}")
    return elapsed, int(response.headers["X-Bench-Queries"])


def commandstats() -> dict[str, int]:
    info = redis.Redis.from_url(REDIS_URL).info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in info.items()}


# What only the throttle's Lua script sends (Django's cache sends INCRBY, SET EX): run inside an
# EVALSHA, they are counted by INFO commandstats but are no round trip of their own.
SCRIPTED = ("incr", "expire")


def round_trips(cmds: dict[str, float]) -> float:
    return round(sum(v for k, v in cmds.items() if not (k in SCRIPTED and "evalsha" in cmds)), 2)


def redis_per_poll(url: str, heads: list[dict]) -> dict[str, float]:
    """Redis commands per poll of one server polled alone, as INFO commandstats counts them (the
    whole server's count: keep the bench's Redis to itself; INFO itself is left out)."""
    session = requests.Session()
    for head in heads:
        poll(session, url, head)  # warm: workers loaded, tokens looked up once, the script known
    before = commandstats()
    for head in heads:
        poll(session, url, head)
    after = commandstats()
    delta = {k: after[k] - before.get(k, 0) for k in after if k != "info" and after[k] != before.get(k, 0)}
    return {k: round(v / len(heads), 2) for k, v in sorted(delta.items())}


def client_process(group: list[tuple[int, dict]], urls: dict[str, str], deadline: float, conn) -> None:
    session = requests.Session()
    rng = random.Random(group[0][0] if group else 0)
    clocks = [[time.monotonic() + rng.uniform(0, POLL_INTERVAL_SEC), i, head, 0] for i, head in group]
    out: dict[str, dict[str, list]] = {name: {"times": [], "queries": []} for name in urls}
    names = list(urls)
    while clocks:
        clock = min(clocks, key=lambda c: c[0])
        if clock[0] >= deadline:
            break
        time.sleep(max(0.0, clock[0] - time.monotonic()))
        order = names if clock[3] % 2 == 0 else names[::-1]
        for name in order:
            elapsed, queries = poll(session, urls[name], clock[2])
            out[name]["times"].append(elapsed)
            out[name]["queries"].append(queries)
        clock[0], clock[3] = max(clock[0] + POLL_INTERVAL_SEC, time.monotonic()), clock[3] + 1
    conn.send(out)


def cadence(urls: dict[str, str], heads: list[dict], *, seconds: float, processes: int) -> dict[str, dict]:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    groups: list[list[tuple[int, dict]]] = [[] for _ in range(min(processes, len(heads)))]
    for i, head in enumerate(heads):
        groups[i % len(groups)].append((i, head))
    deadline = time.monotonic() + seconds
    workers = []
    for group in groups:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=client_process, args=(group, urls, deadline, child), daemon=True)
        proc.start()
        workers.append((proc, parent))
    merged: dict[str, dict[str, list]] = {name: {"times": [], "queries": []} for name in urls}
    for proc, pipe in workers:
        for name, got in pipe.recv().items():
            merged[name]["times"] += got["times"]
            merged[name]["queries"] += got["queries"]
        proc.join(timeout=30)
    out = {}
    for name, got in merged.items():
        t, q = got["times"], got["queries"]
        out[name] = {
            "polls": len(t),
            "p50_ms": round(harness.percentile(t, 0.5) * 1000, 1),
            "p95_ms": round(harness.p95(t) * 1000, 1),
            "p99_ms": round(harness.percentile(t, 0.99) * 1000, 1),
            "max_ms": round(max(t) * 1000, 1),
            "over_1s": sum(x > 1.0 for x in t),
            "sql_per_poll_mean": round(statistics.mean(q), 2),
            "sql_per_poll_median": statistics.median(q),
        }
    return out


class BeforeTree:
    """A worktree of `rev` for the run (removed after), or None: this checkout, auth cache off."""

    def __init__(self, rev: str | None):
        self.rev, self.dir = rev, None

    def __enter__(self):
        if self.rev:
            self.dir = tempfile.mkdtemp(prefix="hi-bench-before-")
            subprocess.run(["git", "worktree", "add", "--detach", self.dir, self.rev], cwd=ROOT, check=True)
        return self.dir

    def __exit__(self, *exc):
        if self.dir:
            subprocess.run(["git", "worktree", "remove", "--force", self.dir], cwd=ROOT, check=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collectors", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers per server")
    parser.add_argument("--processes", type=int, default=10, help="client processes serving the collectors")
    parser.add_argument("--ttl", type=int, default=10, help="after's COLLECTOR_AUTH_CACHE_SEC (default: the default)")
    parser.add_argument("--before-rev", help="the revision 'before' serves (default: this checkout, cache off)")
    args = parser.parse_args()
    with harness.scratch_database(), BeforeTree(args.before_rev) as before_dir:
        made = setup(args.collectors)
        from django.db import connections

        connections.close_all()  # the clients fork: no shared socket
        heads = [headers(plaintext, site, i) for i, (plaintext, site) in enumerate(made)]
        counting = ("--pythonpath", str(ROOT / "bench"))
        common = {"COLLECTOR_POLL_RATE": "100000/min"}  # both servers share the per-token counters
        before_env = {**common, "COLLECTOR_AUTH_CACHE_SEC": "0"} if before_dir is None else common
        logdir = tempfile.mkdtemp(prefix="hi-bench-pollhttp-")
        servers = {
            "before": Gunicorn(
                args.workers,
                log=os.path.join(logdir, "before.log"),
                root=before_dir or ROOT,
                app="_counting_wsgi",
                env=before_env,
                args=counting,
            ),
            "after": Gunicorn(
                args.workers,
                log=os.path.join(logdir, "after.log"),
                app="_counting_wsgi",
                env={**common, "COLLECTOR_AUTH_CACHE_SEC": str(args.ttl)},
                args=counting,
            ),
        }
        with servers["before"] as before_url, servers["after"] as after_url:
            urls = {"before": before_url, "after": after_url}
            what = f"revision {args.before_rev}" if args.before_rev else "this checkout, COLLECTOR_AUTH_CACHE_SEC=0"
            print(
                f"collector poll HTTP bench on {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}: "
                f"{len(heads)} collectors, {args.workers} gunicorn workers per server; before = {what}; after: "
                f"COLLECTOR_AUTH_CACHE_SEC={args.ttl}; server logs in {logdir}"
            )
            redis_cmds = {name: redis_per_poll(url, heads) for name, url in urls.items()}
            for name, cmds in redis_cmds.items():
                print(
                    f"  {name:6s} Redis per poll: {round_trips(cmds):.2f} round trips, commands executed "
                    f"(INFO commandstats, a script's own counted too) {cmds}"
                )
            http = cadence(urls, heads, seconds=args.seconds, processes=args.processes)
        for name, m in http.items():
            print(
                f"  {name:6s} HTTP poll p50 {m['p50_ms']} / p95 {m['p95_ms']} / p99 {m['p99_ms']} / max {m['max_ms']} ms "
                f"({m['polls']} polls, {m['over_1s']} over 1 s); SQL statements per poll mean "
                f"{m['sql_per_poll_mean']} (median {m['sql_per_poll_median']})"
            )
        ratio = round(http["after"]["p95_ms"] / http["before"]["p95_ms"], 2)
        ratio_p50 = round(http["after"]["p50_ms"] / http["before"]["p50_ms"], 2)
        print(f"  after / before, same run: p95 {ratio:.2f}×, p50 {ratio_p50:.2f}×")
        r = new_results(
            collectors=len(heads),
            seconds=args.seconds,
            workers=args.workers,
            before=what,
            after_auth_cache_sec=args.ttl,
            redis_commands_per_poll=redis_cmds,
            redis_round_trips_per_poll={name: round_trips(cmds) for name, cmds in redis_cmds.items()},
            http=http,
            ratio_p95=ratio,
            ratio_p50=ratio_p50,
            load_avg_end=os.getloadavg(),
        )
        targets = [
            ("after p95 / before p95 (same run)", ratio, 1, "≤ 1", ratio <= 1),
            (
                "after SQL statements per poll (mean)",
                http["after"]["sql_per_poll_mean"],
                http["before"]["sql_per_poll_mean"],
                f"< before's {http['before']['sql_per_poll_mean']}",
                http["after"]["sql_per_poll_mean"] < http["before"]["sql_per_poll_mean"],
            ),
            ("after polls over 1 s", http["after"]["over_1s"], 0, "= 0", http["after"]["over_1s"] == 0),
        ]
        report_targets(r, targets)
        write_results("collector_poll_http", r)
    if not all(t[-1] for t in targets):
        sys.exit(3)


if __name__ == "__main__":
    main()
