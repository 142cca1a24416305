"""Command poll benchmark (SPEC §12): one poll leasing 100 commands, with 10 collectors and 1M
historical (final-state) commands in the table, against the raw SQL lease statement on the same
machine in the same run.

    .venv/bin/python bench/command_poll_bench.py [--history 1000000] [--rounds 30] [--paced-seconds 60]

Collectors are 10 forked processes, each with its own persistent connection, as 10 gunicorn
workers would serve them. Two ways of being "concurrent" are measured:

- burst (the worst case): each round queues 1,000 commands (100 per collector, one per miner) and
  releases all 10 collectors at the same instant (a barrier); every one leases up to 100. ORM and
  raw rounds alternate. Every round checks that all 1,000 went out and none twice.
- paced (the deployed collector's cadence, COLLECTOR_PROTOCOL §3: a poll every
  command_poll_interval_sec, 5 s, after the previous poll's commands were ACKed one by one): the
  10 collectors poll on their own clocks, each from a random phase, for --paced-seconds, and ACK
  every command they leased right away (the real edge first runs them, which spreads the ACKs
  out), while the queue is kept topped up.

Diagnostics (burst rounds, same run): "no audit" leases without writing the dispatch events and
"own chain" writes them to one chain per collector process instead of the tenant's chain. They are
not product paths: they show what the audit events cost in CPU and what waiting on the one chain
head costs, to set the target's figure against.

Results are printed and written to bench/results/command_poll_<timestamp>.json.
"""

import argparse
import os
import random
import time
from contextlib import contextmanager

from _harness import new_results, p95, percentile, report_targets, scratch_database, use_scratch_database, write_results

use_scratch_database("hi_cmdbench")

import psycopg2  # noqa: E402 — after use_scratch_database(), which must set DATABASE_URL before any Django import

COLLECTORS = 10
PER_POLL = 100
TARGET_P95_MS = 30
POLL_INTERVAL_SEC = 5  # command_poll_interval_sec, the collector's default
ACK = {"status": "completed", "result_code": 0, "result_message": "ok"}

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

_COMMAND_COLUMNS = """tenant_id, site_id, miner_id, command_type, params, priority_class, priority, emergency, state, reason, evidence,
    created_at, updated_at, ttl_sec, expires_at, finished_at, created_by_system, approval_required, decided_reason, attempt,
    max_retries, retry_backoff_sec, lease_epoch, lease_device_id, outcome, error_code, error_message, blocked_reason"""


def setup_fleet(history: int):
    from audit.services import Actor
    from tenants.models import Collector, Miner, Site, Tenant
    from tenants.services import collector_token_create

    tenant = Tenant.objects.create(slug="bench", name="Bench")
    site = Site.objects.create(code="SITE-BENCH", name="Bench site")
    miners = Miner.objects.bulk_create(
        [Miner(site=site, tenant=tenant, miner_id=f"S21_{i:05d}", model="S21") for i in range(5000)]
    )
    for i in range(COLLECTORS):
        collector_token_create(
            actor=Actor.system("bench"), collector=Collector.objects.create(site=site, name=f"edge-{i}")
        )
    with psycopg2.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
        # Historical commands: every final state, spread over a year, on every miner.
        cur.execute(
            f"""
            INSERT INTO control_command ({_COMMAND_COLUMNS})
            SELECT %(tenant)s, %(site)s, %(m0)s + (g %% 5000), 'set_fan', '{{"speed": 80}}', 10, 0, false,
                (ARRAY['succeeded','failed','expired','canceled','superseded','rejected'])[1 + g %% 6], '', '{{}}',
                now() - (g || ' seconds')::interval / 30, now(), 600, now() - (g || ' seconds')::interval / 30 + interval '600 seconds',
                now(), 'bench', false, '', 1, 2, 30, 1, '', '', '', '', ''
            FROM generate_series(1, %(n)s) AS g
            """,
            {"tenant": tenant.pk, "site": site.pk, "m0": miners[0].pk, "n": history},
        )
        cur.execute("ANALYZE control_command")
    return tenant, site, miners


def queue_commands(cur, *, tenant, site, first_miner: int, miners: int, finish: bool = True) -> None:
    """Queue one command on each of `miners` miners from `first_miner` on; with `finish`, first end
    the commands leased so far, as their ACKs would."""
    if finish:
        cur.execute("UPDATE control_command SET state = 'succeeded', finished_at = now() WHERE state = 'dispatched'")
    cur.execute(
        f"""
        INSERT INTO control_command ({_COMMAND_COLUMNS})
        SELECT %(tenant)s, %(site)s, %(m0)s + g, 'set_fan', '{{"speed": 80}}', 10, g %% 3, false, 'queued', '', '{{}}', now(), now(),
            600, now() + interval '600 seconds', NULL, 'bench', false, '', 1, 2, 30, 0, '', '', '', '', ''
        FROM generate_series(0, %(n)s - 1) AS g
        """,
        {"tenant": tenant.pk, "site": site.pk, "m0": first_miner, "n": miners},
    )


# --- collectors: one process each, with its own connection, as gunicorn workers would run -------


@contextmanager
def _diagnostic(mode: str):
    """The diagnostics' stand-ins, inside one collector process for one poll."""
    import audit.services
    import control.services.poll as queue

    if mode == "no audit":
        saved = queue.audit_record_many
        queue.audit_record_many = lambda **kwargs: []
        try:
            yield
        finally:
            queue.audit_record_many = saved
    elif mode == "own chain":
        saved = audit.services.EventSpec.chain_key
        audit.services.EventSpec.chain_key = property(lambda spec: f"bench:collector:{os.getpid()}")
        try:
            yield
        finally:
            audit.services.EventSpec.chain_key = saved
    else:
        yield


def collector_process(i: int, token_pk: int, site_id: int, conn, barrier) -> None:
    """Forked with no open connection; opens its own Django and psycopg2 connections and keeps them
    (CONN_MAX_AGE), then serves requests from the parent until told to stop."""
    from django.db import connection

    from control.services.ack import command_ack
    from control.services.poll import command_poll_lease
    from tenants.collector_auth import CollectorPrincipal
    from tenants.models import CollectorToken

    token = CollectorToken.objects.select_related("collector__site", "collector__zone").get(pk=token_pk)
    principal = CollectorPrincipal(token=token, device_id=f"dev-{i}")
    raw = psycopg2.connect(os.environ["DATABASE_URL"])
    raw_params = {"collector": token.collector_id, "device": f"dev-{i}", "site": site_id, "limit": PER_POLL}

    def poll(mode: str) -> tuple[float, list[str]]:
        started = time.perf_counter()
        if mode == "raw":
            with raw, raw.cursor() as cur:
                cur.execute(RAW_LEASE, raw_params)
                ids = [str(row[0]) for row in cur.fetchall()]
        else:
            with _diagnostic(mode):
                ids = [w["command_id"] for w in command_poll_lease(principal=principal, limit=PER_POLL)]
        return time.perf_counter() - started, ids

    while True:
        request = conn.recv()
        if request is None:
            break
        kind, mode, *args = request
        if kind == "burst":
            barrier.wait()
            conn.send([poll(mode)])
        else:  # paced: poll, ACK each command one by one as the collector does, next poll an interval later
            interval, deadline = args
            rng = random.Random(i)
            due = time.monotonic() + rng.uniform(0, interval)
            polls, acks = [], []
            while due < deadline:
                time.sleep(max(0.0, due - time.monotonic()))
                polls.append(poll(mode))
                for wire_id in polls[-1][1]:
                    started = time.perf_counter()
                    command_ack(principal=principal, wire_id=wire_id, payload=ACK, endpoint="v1")
                    acks.append(time.perf_counter() - started)
                due = max(due + interval, time.monotonic() + interval)
            conn.send((polls, acks))
    raw.close()
    connection.close()


def start_collectors(site_id):
    import multiprocessing

    from django.db import connections

    from tenants.models import CollectorToken

    tokens = list(CollectorToken.objects.order_by("pk").values_list("pk", flat=True))
    connections.close_all()  # a forked child must never share the parent's socket
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(tokens))
    workers = []
    for i, token_pk in enumerate(tokens):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=collector_process, args=(i, token_pk, site_id, child, barrier), daemon=True)
        proc.start()
        workers.append((proc, parent))
    return workers


def ask_all(workers, request) -> tuple[list[float], list[str]]:
    for _, pipe in workers:
        pipe.send(request)
    times, ids = [], []
    for _, pipe in workers:
        for elapsed, got in pipe.recv():
            times.append(elapsed)
            ids += got
    return times, ids


def stop_collectors(workers) -> None:
    for _, pipe in workers:
        pipe.send(None)
    for proc, _ in workers:
        proc.join(timeout=30)


def vacuum(db) -> None:
    """What autovacuum does in production (docs/DEPLOYMENT.md; it is off on some dev servers):
    without it every round would lease through the dead rows of all the rounds before."""
    db.autocommit = True
    try:
        with db.cursor() as cur:
            cur.execute("VACUUM control_command, control_commandattempt, audit_auditchain")
    finally:
        db.autocommit = False


def run_burst(workers, db, *, tenant, site, miners, rounds: int, modes: tuple[str, ...]) -> dict[str, list[float]]:
    results = {mode: [] for mode in modes}
    for n in range(rounds + 2):  # two warm-up rounds of each
        for mode in modes if n % 2 == 0 else reversed(modes):
            with db, db.cursor() as cur:
                queue_commands(cur, tenant=tenant, site=site, first_miner=miners[0].pk, miners=COLLECTORS * PER_POLL)
            vacuum(db)
            times, ids = ask_all(workers, ("burst", mode))
            assert len(ids) == len(set(ids)) == COLLECTORS * PER_POLL, (
                f"{mode}: {len(set(ids))} of {len(ids)} distinct, {COLLECTORS * PER_POLL} queued"
            )
            if n >= 2:
                results[mode] += times
    return results


def run_paced(workers, db, *, tenant, site, miners, seconds: float) -> tuple[list[float], list[float], int]:
    """The collectors poll on their own clocks and ACK what they leased; meanwhile the parent keeps
    1,000 commands ready, a block of 1,000 miners at a time."""
    with db, db.cursor() as cur:  # the burst's last leases end (their miners would stay busy), 1,000 ready
        queue_commands(cur, tenant=tenant, site=site, first_miner=miners[0].pk, miners=COLLECTORS * PER_POLL)
    deadline = time.monotonic() + seconds
    for _, pipe in workers:
        pipe.send(("paced", "orm", POLL_INTERVAL_SEC, deadline))
    block, blocks = 0, len(miners) // (COLLECTORS * PER_POLL)
    while time.monotonic() < deadline:
        with db, db.cursor() as cur:
            cur.execute("SELECT count(*) FROM control_command WHERE state = 'queued'")
            if cur.fetchone()[0] < COLLECTORS * PER_POLL:
                block = (block + 1) % blocks
                first = miners[block * COLLECTORS * PER_POLL].pk
                queue_commands(
                    cur, tenant=tenant, site=site, first_miner=first, miners=COLLECTORS * PER_POLL, finish=False
                )
        time.sleep(0.2)
    polls, acks, ids = [], [], []
    for _, pipe in workers:
        got_polls, got_acks = pipe.recv()
        polls += [elapsed for elapsed, _ in got_polls]
        ids += [i for _, leased in got_polls for i in leased]
        acks += got_acks
    assert len(ids) == len(acks), "every leased command is ACKed"
    return polls, acks, len(ids) - len(set(ids))


def server_settings() -> dict:
    """The server settings the figures depend on, recorded with them."""
    names = (
        "max_wal_size",
        "wal_compression",
        "checkpoint_timeout",
        "checkpoint_completion_target",
        "autovacuum",
        "synchronous_commit",
        "fsync",
        "shared_buffers",
    )
    with psycopg2.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT "
            + ", ".join(f"current_setting('{n}')" for n in names)
            + ", pg_size_bytes(current_setting('max_wal_size'))"
            + ", (SELECT setting::int FROM pg_settings WHERE name = 'checkpoint_timeout')"
        )
        *values, wal_bytes, checkpoint_sec = cur.fetchone()
    conn.close()
    return dict(zip(names, values, strict=True)) | {
        "max_wal_size_bytes": wal_bytes,
        "checkpoint_timeout_sec": checkpoint_sec,
    }


def missing_settings(server: dict) -> list[str]:
    """The recommended settings (docker-compose.yml's postgres command) the server lacks, as text."""
    missing = []
    if server["max_wal_size_bytes"] < 4 * 2**30:
        missing.append(f"max_wal_size = {server['max_wal_size']} (want >= 4GB)")
    if server["wal_compression"] in ("off", "none"):
        missing.append("wal_compression = off (want lz4 or on)")
    if server["checkpoint_timeout_sec"] < 15 * 60:
        missing.append(f"checkpoint_timeout = {server['checkpoint_timeout']} (want >= 15min)")
    if float(server["checkpoint_completion_target"]) < 0.9:
        missing.append(f"checkpoint_completion_target = {server['checkpoint_completion_target']} (want 0.9)")
    if server["autovacuum"] != "on":
        missing.append("autovacuum = off (want on, as in production)")
    for name in ("synchronous_commit", "fsync"):
        if server[name] != "on":
            missing.append(f"{name} = {server[name]} (want on: the bench measures durable commits)")
    return missing


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--paced-seconds", type=float, default=60, help="0 skips the paced run")
    parser.add_argument("--no-diagnostics", action="store_true", help="skip the no-audit and own-chain rounds")
    args = parser.parse_args()

    with scratch_database():
        started = time.perf_counter()
        tenant, site, miners = setup_fleet(args.history)
        print(f"set-up: {args.history:,} historical commands in {time.perf_counter() - started:.1f}s")
        workers = start_collectors(site.pk)
        db = psycopg2.connect(os.environ["DATABASE_URL"])
        modes = ("orm", "raw") if args.no_diagnostics else ("orm", "raw", "no audit", "own chain")
        try:
            burst = run_burst(workers, db, tenant=tenant, site=site, miners=miners, rounds=args.rounds, modes=modes)
            paced, acks, paced_double = (
                run_paced(workers, db, tenant=tenant, site=site, miners=miners, seconds=args.paced_seconds)
                if args.paced_seconds
                else ([], [], 0)
            )
        finally:
            stop_collectors(workers)
            db.close()

        def ms(values):
            return round(p95(values) * 1000, 1)

        r = new_results(
            collectors_as="processes (fork), one connection each",
            history=args.history,
            collectors=COLLECTORS,
            per_poll=PER_POLL,
            burst={
                mode: {"polls": len(t), "p95_ms": ms(t), "p50_ms": round(percentile(t, 0.5) * 1000, 1)}
                for mode, t in burst.items()
            },
            paced={
                "interval_sec": POLL_INTERVAL_SEC,
                "seconds": args.paced_seconds,
                "polls": len(paced),
                "acks": len(acks),
                "double_dispatch": paced_double,
            }
            | (
                {
                    "p95_ms": ms(paced),
                    "p50_ms": round(percentile(paced, 0.5) * 1000, 1),
                    "max_ms": round(max(paced) * 1000, 1),
                    "over_100ms": sum(t > 0.1 for t in paced),
                    "ack_p95_ms": ms(acks),
                }
                if len(paced) >= 2
                else {}
            ),
        )
        r["server"] = server_settings()
        orm, raw = r["burst"]["orm"], r["burst"]["raw"]
        r["ratio_burst_p95"] = round(orm["p95_ms"] / raw["p95_ms"], 2)
        print(
            f"command poll bench on {os.cpu_count()} CPUs: {COLLECTORS} collectors × {PER_POLL} commands, {args.history:,} in history"
        )
        for mode, m in r["burst"].items():
            print(f"  burst  {mode:9s} p95 {m['p95_ms']:6.1f} ms  p50 {m['p50_ms']:6.1f} ms  ({m['polls']} polls)")
        print(f"  burst ratio command_poll_lease / raw SQL lease (p95): {r['ratio_burst_p95']:.2f}×; double dispatch 0")
        if "p95_ms" in r["paced"]:
            print(
                f"  paced  orm       p95 {r['paced']['p95_ms']:6.1f} ms  p50 {r['paced']['p50_ms']:6.1f} ms  max {r['paced']['max_ms']:6.1f} ms, "
                f"{r['paced']['over_100ms']} over 100 ms ({len(paced)} polls {POLL_INTERVAL_SEC}s apart per collector, "
                f"{len(acks) / len(paced):.0f} commands each on average)"
            )
            print(
                f"  paced  ACKs      p95 {r['paced']['ack_p95_ms']:6.1f} ms  ({len(acks)} ACKs, each command ACKed one by one after its poll)"
            )
        missing = missing_settings(r["server"])
        if missing:
            print(
                "  note: this server lacks the recommended settings (docs/DEPLOYMENT.md, 'PostgreSQL settings "
                "that matter'): " + "; ".join(missing) + ". Results are not comparable with a tuned server."
            )
        targets = [
            (
                "burst p95 ms (all 10 at once)",
                orm["p95_ms"],
                TARGET_P95_MS,
                f"≤ {TARGET_P95_MS}",
                orm["p95_ms"] <= TARGET_P95_MS,
            )
        ]
        if "p95_ms" in r["paced"]:
            met = r["paced"]["p95_ms"] <= TARGET_P95_MS and paced_double == 0
            targets.append(
                (
                    "paced p95 ms (collector cadence)",
                    r["paced"]["p95_ms"],
                    TARGET_P95_MS,
                    f"≤ {TARGET_P95_MS}, no double dispatch",
                    met,
                )
            )
        report_targets(r, targets)
        write_results("command_poll", r)


if __name__ == "__main__":
    main()
