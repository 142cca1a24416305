"""Command poll benchmark (SPEC §12): one poll leasing 100 commands, p95 with 10 collectors
polling at once and 1M historical (final-state) commands in the table, against the raw SQL lease
statement run the same way on the same machine in the same run.

    .venv/bin/python bench/command_poll_bench.py [--history 1000000] [--rounds 30]

Creates a scratch database (hi_cmdbench on the server of DATABASE_URL), migrates it, measures,
drops it. Results are printed and written to bench/results/command_poll_<timestamp>.json.
Each round queues 100 commands per collector (1,000, one per miner) and releases 10 collector
processes at once (a barrier), each leasing up to 100 over its own persistent connection, as 10
gunicorn workers would; ORM and raw rounds alternate. Every round checks that all 1,000 went out
and none twice.
"""

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import multiprocessing
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "hi_cmdbench"

_server = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hashinsight"))
os.environ["DATABASE_URL"] = urlunsplit(_server._replace(path=f"/{BENCH_DB}"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hashinsight.settings")
os.environ.setdefault("TESTING", "1")  # dev fallbacks, no .env, DEBUG off (no query log)

import psycopg2  # noqa: E402

COLLECTORS = 10
PER_POLL = 100

# The floor: the same rows leased by one statement, no audit, no attempt rows, no wire objects.
RAW_LEASE = """
UPDATE control_command AS c SET state = 'dispatched', lease_epoch = c.lease_epoch + 1, lease_collector_id = %(collector)s,
       lease_device_id = %(device)s, lease_until = now() + interval '60 seconds', updated_at = now()
FROM (SELECT id FROM control_command WHERE site_id = %(site)s AND state = 'queued' AND expires_at > now()
        AND (not_before IS NULL OR not_before <= now())
      ORDER BY priority_class DESC, priority DESC, created_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) AS r
WHERE c.id = r.id
RETURNING c.id, c.miner_id, c.command_type, c.params, c.lease_epoch, c.expires_at
"""


def admin_connection():
    conn = psycopg2.connect(urlunsplit(_server._replace(path="/postgres")))
    conn.autocommit = True
    return conn


def recreate_database():
    with admin_connection().cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {BENCH_DB}")


def drop_database():
    with admin_connection().cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def setup_fleet(history: int):
    from audit.services import Actor
    from tenants.models import Collector, Miner, Site, Tenant
    from tenants.services import collector_token_create

    tenant = Tenant.objects.create(slug="bench", name="Bench")
    site = Site.objects.create(code="SITE-BENCH", name="Bench site")
    miners = Miner.objects.bulk_create([Miner(site=site, tenant=tenant, miner_id=f"S21_{i:05d}", model="S21") for i in range(5000)])
    collectors = []
    for i in range(COLLECTORS):
        c = Collector.objects.create(site=site, name=f"edge-{i}")
        token, _ = collector_token_create(actor=Actor.system("bench"), collector=c)
        collectors.append(token)
    with psycopg2.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
        # Historical commands: every final state, spread over a year, on every miner.
        cur.execute(
            """
            INSERT INTO control_command (tenant_id, site_id, miner_id, command_type, params, priority_class, priority, emergency, state,
                reason, evidence, created_at, updated_at, ttl_sec, expires_at, finished_at, created_by_system, approval_required,
                decided_reason, attempt, max_retries, retry_backoff_sec, lease_epoch, lease_device_id, outcome, error_code,
                error_message, blocked_reason)
            SELECT %(tenant)s, %(site)s, %(m0)s + (g %% 5000), 'set_fan', '{"speed": 80}', 10, 0, false,
                (ARRAY['succeeded','failed','expired','canceled','superseded','rejected'])[1 + g %% 6], '', '{}',
                now() - (g || ' seconds')::interval / 30, now(), 600, now() - (g || ' seconds')::interval / 30 + interval '600 seconds',
                now(), 'bench', false, '', 1, 2, 30, 1, '', '', '', '', ''
            FROM generate_series(1, %(n)s) AS g
            """,
            {"tenant": tenant.pk, "site": site.pk, "m0": miners[0].pk, "n": history},
        )
        cur.execute("ANALYZE control_command")
    return tenant, site, miners, collectors


def queue_round(tenant, site, miners, n: int):
    conn = psycopg2.connect(os.environ["DATABASE_URL"])
    with conn, conn.cursor() as cur:
        # free the miners leased last round, as their ACKs would
        cur.execute("UPDATE control_command SET state = 'succeeded', finished_at = now() WHERE state = 'dispatched'")
        cur.execute(
            """
            INSERT INTO control_command (tenant_id, site_id, miner_id, command_type, params, priority_class, priority, emergency, state,
                reason, evidence, created_at, updated_at, ttl_sec, expires_at, created_by_system, approval_required, decided_reason,
                attempt, max_retries, retry_backoff_sec, lease_epoch, lease_device_id, outcome, error_code, error_message, blocked_reason)
            SELECT %(tenant)s, %(site)s, %(m0)s + g, 'set_fan', '{"speed": 80}', 10, g %% 3, false, 'queued', '', '{}', now(), now(),
                600, now() + interval '600 seconds', 'bench', false, '', 1, 2, 30, 0, '', '', '', '', ''
            FROM generate_series(0, %(n)s - 1) AS g
            """,
            {"tenant": tenant.pk, "site": site.pk, "m0": miners[0].pk, "n": n},
        )
    conn.close()


# --- collectors: one process each, with its own connection, as gunicorn workers would run -------


def collector_process(i: int, token_pk: int, site_id: int, conn, barrier) -> None:
    """Forked with no open connection; opens its own Django and psycopg2 connections and keeps them
    (CONN_MAX_AGE), then serves rounds: wait at the barrier with the others, time one poll."""
    from django.db import connection

    from control.services.queue import command_poll_lease
    from tenants.collector_auth import CollectorPrincipal
    from tenants.models import CollectorToken

    token = CollectorToken.objects.select_related("collector__site", "collector__zone").get(pk=token_pk)
    principal = CollectorPrincipal(token=token, device_id=f"dev-{i}")
    raw = psycopg2.connect(os.environ["DATABASE_URL"])
    raw_params = {"collector": token.collector_id, "device": f"dev-{i}", "site": site_id, "limit": PER_POLL}
    while True:
        mode = conn.recv()
        if mode is None:
            break
        barrier.wait()
        started = time.perf_counter()
        if mode == "orm":
            ids = [w["command_id"] for w in command_poll_lease(principal=principal, limit=PER_POLL)]
        else:
            with raw, raw.cursor() as cur:
                cur.execute(RAW_LEASE, raw_params)
                ids = [str(row[0]) for row in cur.fetchall()]
        conn.send((time.perf_counter() - started, ids))
    raw.close()
    connection.close()


def start_collectors(tokens, site_id):
    from django.db import connections

    connections.close_all()  # a forked child must never share the parent's socket
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(tokens))
    workers = []
    for i, token in enumerate(tokens):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=collector_process, args=(i, token.pk, site_id, child, barrier), daemon=True)
        proc.start()
        workers.append((proc, parent))
    return workers


def run_round(workers, mode: str) -> tuple[list[float], list[str]]:
    for _, pipe in workers:
        pipe.send(mode)
    times, ids = [], []
    for _, pipe in workers:
        elapsed, got = pipe.recv()
        times.append(elapsed)
        ids += got
    return times, ids


def stop_collectors(workers) -> None:
    for proc, pipe in workers:
        pipe.send(None)
    for proc, _ in workers:
        proc.join(timeout=30)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    recreate_database()
    try:
        import django

        django.setup()
        from django.core.management import call_command

        from tenants.models import CollectorToken

        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        tenant, site, miners, _ = setup_fleet(args.history)
        print(f"set-up: {args.history:,} historical commands in {time.perf_counter() - started:.1f}s")
        tokens = list(CollectorToken.objects.select_related("collector__site", "collector__zone").order_by("pk"))
        workers = start_collectors(tokens, site.pk)
        results = {"orm": [], "raw": []}
        double = 0
        try:
            for n in range(args.rounds + 2):  # two warm-up rounds each
                for name in ("orm", "raw") if n % 2 == 0 else ("raw", "orm"):
                    queue_round(tenant, site, miners, COLLECTORS * PER_POLL)
                    times, ids = run_round(workers, name)
                    double += len(ids) - len(set(ids))
                    assert len(ids) == COLLECTORS * PER_POLL, f"{name}: {len(ids)} leased of {COLLECTORS * PER_POLL}"
                    if n >= 2:
                        results[name] += times
        finally:
            stop_collectors(workers)
        r = {
            "machine": {"cpus": os.cpu_count()},
            "collectors_as": "processes (fork), one connection each",
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "history": args.history,
            "collectors": COLLECTORS,
            "per_poll": PER_POLL,
            "polls": len(results["orm"]),
            "orm_p95_ms": p95(results["orm"]) * 1000,
            "orm_p50_ms": statistics.median(results["orm"]) * 1000,
            "raw_p95_ms": p95(results["raw"]) * 1000,
            "raw_p50_ms": statistics.median(results["raw"]) * 1000,
            "double_dispatch": double,
        }
        r["ratio_p95"] = r["orm_p95_ms"] / r["raw_p95_ms"]
        r["target_met"] = r["orm_p95_ms"] <= 30 and double == 0
        print(f"command poll bench on {os.cpu_count()} CPUs: {COLLECTORS} collectors × {PER_POLL} commands, {args.history:,} in history")
        print(f"  command_poll_lease p95 {r['orm_p95_ms']:.1f} ms (p50 {r['orm_p50_ms']:.1f}) over {r['polls']} polls")
        print(f"  raw SQL lease      p95 {r['raw_p95_ms']:.1f} ms (p50 {r['raw_p50_ms']:.1f})")
        print(f"  ratio {r['ratio_p95']:.2f}×; double dispatch {double}; {'OK' if r['target_met'] else 'MISS'} target p95 ≤ 30 ms")
        out = ROOT / "bench" / "results" / f"command_poll_{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(r, indent=2))
    finally:
        from django.db import connections

        connections.close_all()
        drop_database()


if __name__ == "__main__":
    main()
