"""Command poll benchmark (SPEC §12, issue 17 "Targets", issue 18 "100 collectors polling"): the
product's poll and ACK beside the bare SQL lease statement, same machine, same run.

    .venv/bin/python bench/command_poll_bench.py [--mode burst|cadence|fleet] [--history 1000000] [--own-cluster]
        burst:   [--rounds 30]                    all 10 collectors polling at the same instant
        cadence: [--runs 3] [--seconds 60]        10 collectors, each every 5 s, ACKing what it got
        fleet:   [--collectors 100] [--minutes 10] N collectors at their cadence for minutes

Collectors are forked processes, each with its own persistent connection, as gunicorn workers
would serve them.

The server is DATABASE_URL's (a scratch database on it), or with --own-cluster a scratch cluster on
loopback (core.devcluster) started with exactly production's settings: the postgres command of
docker-compose.yml (WAL, checkpoints, max_connections), everything else PostgreSQL's defaults
(autovacuum, fsync, synchronous_commit on); stopped and removed at the end. The settings the figures
depend on are recorded with them, and a note lists those the server has otherwise than production.
Where the server's autovacuum is off, the bench vacuums the hot tables itself (burst: before every
round; cadence and fleet: every 30 s), as autovacuum would; where it is on, it leaves that to it.

- burst (the worst case): each round queues 1,000 commands (100 per collector, one per miner) and
  releases all 10 collectors at the same instant (a barrier); every one leases up to 100. ORM and
  raw rounds alternate. Every round checks that all 1,000 went out and none twice. Target: p95
  ≤ 2× the bare lease's. Diagnostics (same run): "raw+attempts" is the bare lease with the
  attempt rows every lease writes (SPEC §6.2) in the same statement; "no audit" leases without
  writing the dispatch events and "own chain" writes them to one chain per collector process
  instead of the tenant's; not product paths, they show what the attempt rows, the audit events
  and the one chain head cost.
- cadence and fleet: bench/_poll_cadence.py (collectors on their own clocks, commands created and
  approved through the services meanwhile). cadence: ≥ 3 runs, the median of each run's p95
  reported; poll p95 ≤ 30 ms and ACK p95 ≤ 30 ms beside the bare lease and ACK of the same run.
  fleet: no poll over 1 s, zero double dispatch (the attempts table), queue lag under one poll
  interval.

Prints OK/MISS per target and exits 3 when one is missed. Results (with the load average) go to
bench/results/command_poll_<mode>_<timestamp>.json.
"""

import argparse
import os
import sys
import time
from contextlib import contextmanager

import _poll_cadence as cadence
from _harness import (
    new_results,
    p95,
    percentile,
    report_targets,
    scratch_database,
    use_scratch_database,
    use_server,
    write_results,
)
from _poll_cadence import PER_POLL, POLL_INTERVAL_SEC, RAW_LEASE, RAW_LEASE_ATTEMPTS

use_scratch_database("hi_cmdbench")
# cadence and fleet make set_fan commands faster than the per-site guardrail allows (500 per 300 s):
# the guardrail is not what is measured.
os.environ.setdefault("COMMAND_RATE_LIMITS", "set_fan=1000000/300")

import psycopg2  # noqa: E402 — after use_scratch_database(), which must set DATABASE_URL before any Django import

from core import devcluster  # noqa: E402 — on sys.path once _harness is imported

COLLECTORS = 10
TARGET_P95_MS = 30
# The burst's bare statements, by mode: the lease alone (the target's floor), and the lease with
# the attempt rows every lease must write (a diagnostic).
RAW_MODES = {"raw": RAW_LEASE, "raw+attempts": RAW_LEASE_ATTEMPTS}

_COMMAND_COLUMNS = """tenant_id, site_id, miner_id, command_type, params, priority_class, priority, emergency, state, reason, evidence,
    created_at, updated_at, ttl_sec, expires_at, finished_at, created_by_system, approval_required, decided_reason, attempt,
    max_retries, retry_backoff_sec, lease_epoch, lease_device_id, outcome, error_code, error_message, blocked_reason,
    owner_consent_required, owner_decided_reason"""


def setup_fleet(history: int, *, sites: int = 1, collectors_per_site: int = COLLECTORS, miners_per_site: int = 5000):
    """A tenant, `sites` sites of `miners_per_site` miners and `collectors_per_site` collectors each
    (one token each), and `history` final-state commands on the first site. Returns the tenant,
    the sites and {site pk: its miners}."""
    from audit.services import Actor
    from tenants.models import Collector, Miner, Site, Tenant
    from tenants.services import collector_token_create

    tenant = Tenant.objects.create(slug="bench", name="Bench")
    made, miners_by_site = [], {}
    for n in range(sites):
        site = Site.objects.create(code=f"SITE-BENCH{n or ''}", name=f"Bench site {n}")
        miners_by_site[site.pk] = Miner.objects.bulk_create(
            [Miner(site=site, tenant=tenant, miner_id=f"S21_{i:05d}", model="S21") for i in range(miners_per_site)]
        )
        for i in range(collectors_per_site):
            collector_token_create(
                actor=Actor.system("bench"), collector=Collector.objects.create(site=site, name=f"edge-{i}")
            )
        made.append(site)
    site, miners = made[0], miners_by_site[made[0].pk]
    with psycopg2.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
        # Historical commands: every final state, spread over a year, on every miner.
        cur.execute(
            f"""
            INSERT INTO control_command ({_COMMAND_COLUMNS})
            SELECT %(tenant)s, %(site)s, %(m0)s + (g %% %(miners)s), 'set_fan', '{{"speed": 80}}', 10, 0, false,
                (ARRAY['succeeded','failed','expired','canceled','superseded','rejected'])[1 + g %% 6], '', '{{}}',
                now() - (g || ' seconds')::interval / 30, now(), 600, now() - (g || ' seconds')::interval / 30 + interval '600 seconds',
                now(), 'bench', false, '', 1, 2, 30, 1, '', '', '', '', '', false, ''
            FROM generate_series(1, %(n)s) AS g
            """,
            {"tenant": tenant.pk, "site": site.pk, "m0": miners[0].pk, "n": history, "miners": len(miners)},
        )
        cur.execute("ANALYZE control_command")
    return tenant, made, miners_by_site


def queue_commands(cur, *, tenant, site, first_miner: int, miners: int, finish: bool = True) -> None:
    """Queue one command on each of `miners` miners from `first_miner` on; with `finish`, first end
    the commands leased so far, as their ACKs would."""
    if finish:
        cur.execute("UPDATE control_command SET state = 'succeeded', finished_at = now() WHERE state = 'dispatched'")
    cur.execute(
        f"""
        INSERT INTO control_command ({_COMMAND_COLUMNS})
        SELECT %(tenant)s, %(site)s, %(m0)s + g, 'set_fan', '{{"speed": 80}}', 10, g %% 3, false, 'queued', '', '{{}}', now(), now(),
            600, now() + interval '600 seconds', NULL, 'bench', false, '', 1, 2, 30, 0, '', '', '', '', '', false, ''
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

    from control.services.poll import command_poll_lease
    from tenants.collector_auth import CollectorPrincipal
    from tenants.models import CollectorToken

    token = CollectorToken.objects.select_related("collector__site", "collector__zone").get(pk=token_pk)
    principal = CollectorPrincipal(token=token, device_id=f"dev-{i}")
    raw = psycopg2.connect(os.environ["DATABASE_URL"])
    raw_params = {"collector": token.collector_id, "device": f"dev-{i}", "site": site_id, "limit": PER_POLL}

    def poll(mode: str) -> tuple[float, list[str]]:
        started = time.perf_counter()
        if mode in RAW_MODES:
            with raw, raw.cursor() as cur:
                cur.execute(RAW_MODES[mode], raw_params)
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
        else:
            raise ValueError(kind)
    raw.close()
    connection.close()


def start_collectors(site_id):
    import multiprocessing

    from django.db import connections

    from tenants.models import CollectorToken

    tokens = list(CollectorToken.objects.filter(collector__site_id=site_id).order_by("pk").values_list("pk", flat=True))
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
    """What autovacuum does in production (docs/DEPLOYMENT.md), on a server that has it off (a shared
    dev server): without it every round would lease through the dead rows of all the rounds before.
    With autovacuum on (`--own-cluster`), the rounds get only what it does."""
    db.autocommit = True
    try:
        with db.cursor() as cur:
            cur.execute("VACUUM control_command, control_commandattempt, audit_auditchain")
    finally:
        db.autocommit = False


def run_burst(
    workers, db, *, tenant, site, miners, rounds: int, modes: tuple[str, ...], manual_vacuum: bool
) -> dict[str, list[float]]:
    results = {mode: [] for mode in modes}
    for n in range(rounds + 2):  # two warm-up rounds of each
        for mode in modes if n % 2 == 0 else reversed(modes):
            with db, db.cursor() as cur:
                queue_commands(cur, tenant=tenant, site=site, first_miner=miners[0].pk, miners=COLLECTORS * PER_POLL)
            if manual_vacuum:
                vacuum(db)
            times, ids = ask_all(workers, ("burst", mode))
            assert len(ids) == len(set(ids)) == COLLECTORS * PER_POLL, (
                f"{mode}: {len(set(ids))} of {len(ids)} distinct, {COLLECTORS * PER_POLL} queued"
            )
            if n >= 2:
                results[mode] += times
    return results


def server_settings() -> dict:
    """The server settings the figures depend on (what production runs with, core.devcluster, and
    shared_buffers), recorded with them."""
    names = (*devcluster.expected_settings(), "shared_buffers")
    with psycopg2.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT " + ", ".join("current_setting(%s)" for _ in names), names)
        values = cur.fetchone()
    conn.close()
    return dict(zip(names, values, strict=True))


def burst_mode(args, tenant, sites, miners_by_site) -> tuple[dict, list]:
    site, miners = sites[0], miners_by_site[sites[0].pk]
    workers = start_collectors(site.pk)
    db = psycopg2.connect(os.environ["DATABASE_URL"])
    modes = ("orm", "raw") if args.no_diagnostics else ("orm", "raw", "raw+attempts", "no audit", "own chain")
    manual_vacuum = not cadence.autovacuum_on()
    try:
        burst = run_burst(
            workers,
            db,
            tenant=tenant,
            site=site,
            miners=miners,
            rounds=args.rounds,
            modes=modes,
            manual_vacuum=manual_vacuum,
        )
    finally:
        stop_collectors(workers)
        db.close()
    r = {
        mode: {"polls": len(t), "p95_ms": round(p95(t) * 1000, 1), "p50_ms": round(percentile(t, 0.5) * 1000, 1)}
        for mode, t in burst.items()
    }
    for mode, m in r.items():
        print(f"  burst  {mode:12s} p95 {m['p95_ms']:6.1f} ms  p50 {m['p50_ms']:6.1f} ms  ({m['polls']} polls)")
    ratio = round(r["orm"]["p95_ms"] / r["raw"]["p95_ms"], 2)
    print(f"  burst ratio command_poll_lease / raw SQL lease (p95): {ratio:.2f}×; double dispatch 0")
    out = {"burst": r, "ratio_burst_p95": ratio}
    if "raw+attempts" in r:
        out["ratio_burst_p95_to_raw_attempts"] = round(r["orm"]["p95_ms"] / r["raw+attempts"]["p95_ms"], 2)
        out["ratio_raw_attempts_to_raw"] = round(r["raw+attempts"]["p95_ms"] / r["raw"]["p95_ms"], 2)
        print(
            f"  burst ratio command_poll_lease / (raw SQL lease + attempt rows) (p95): "
            f"{out['ratio_burst_p95_to_raw_attempts']:.2f}×; the attempt rows alone: "
            f"{out['ratio_raw_attempts_to_raw']:.2f}× the raw lease"
        )
    targets = [("burst p95 / bare lease p95 (all 10 at once)", ratio, 2, "≤ 2×", ratio <= 2)]
    out["vacuum_by_bench"] = manual_vacuum and "before every round (server autovacuum off)"
    return out, targets


def cadence_mode(args, producer, sites) -> tuple[dict, list]:
    r = cadence.run_cadence(producer, sites[0], runs=args.runs, seconds=args.seconds)
    m = r["median"]
    print(
        f"  median of {args.runs} runs' p95: poll {m['poll_p95_ms']} ms (bare lease {m['raw_poll_p95_ms']} ms, "
        f"median run ratio {m['poll_ratio']}×), ACK {m['ack_p95_ms']} ms (bare ACK {m['raw_ack_p95_ms']} ms, "
        f"median run ratio {m['ack_ratio']}×)"
    )
    targets = [
        ("cadence poll p95 ms (median of runs)", m["poll_p95_ms"], TARGET_P95_MS, f"≤ {TARGET_P95_MS}", None),
        ("cadence ACK p95 ms (median of runs)", m["ack_p95_ms"], TARGET_P95_MS, f"≤ {TARGET_P95_MS}", None),
        ("cadence double dispatch", m["double_dispatch_seen"], 0, "= 0", m["double_dispatch_seen"] == 0),
    ]
    targets = [(n, v, t, label, v <= t if met is None else met) for n, v, t, label, met in targets]
    return {"cadence": r, "commands_created": producer.created, "commands_approved": producer.approved}, targets


def fleet_mode(args, producer, sites) -> tuple[dict, list]:
    f = cadence.run_fleet(producer, sites, minutes=args.minutes, processes=args.processes)
    print(
        f"  {f['collectors']} collectors in {f['processes']} processes, {args.minutes:g} min: {f['polls']} polls "
        f"(p50 {f['poll_p50_ms']} / p95 {f['poll_p95_ms']} / p99 {f['poll_p99_ms']} / max {f['poll_max_ms']} ms, "
        f"late to its clock p99 {f['late_p99_ms']} ms), {f['acks']} ACKs (p95 {f['ack_p95_ms']} ms); "
        f"{f['commands_created']} commands created, {f['commands_approved']} approved"
    )
    print(
        f"  attempts table: {f['attempt_rows']} commands leased, {f['leased_more_than_once']} more than once, "
        f"{f['overlapping_leases']} overlapping leases, {f['unacked_attempts']} unACKed; queue lag p50 "
        f"{f['queue_lag_p50_sec']} s, p99 {f['queue_lag_p99_sec']} s, max {f['queue_lag_max_sec']} s; "
        f"{f['still_queued']} still queued at the end (oldest {f['oldest_queued_sec']:.1f} s)"
    )
    double = f["leased_more_than_once"] + f["overlapping_leases"] + f["double_dispatch_seen"]
    lag = max(f["queue_lag_max_sec"], f["oldest_queued_sec"] if f["still_queued"] else 0.0)
    targets = [
        ("polls over 1 s", f["polls_over_1s"], 0, "= 0", f["polls_over_1s"] == 0 and f["polls"] > 0),
        ("double dispatch (attempts table)", double, 0, "= 0", double == 0 and f["attempt_rows"] > 0),
        (
            "queue lag max s",
            lag,
            POLL_INTERVAL_SEC,
            f"< {POLL_INTERVAL_SEC} (one poll interval)",
            lag < POLL_INTERVAL_SEC,
        ),
    ]
    return {"fleet": f}, targets


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("burst", "cadence", "fleet"), default="burst")
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30, help="burst: timed rounds of each mode")
    parser.add_argument(
        "--no-diagnostics", action="store_true", help="burst: skip the raw+attempts, no-audit and own-chain rounds"
    )
    parser.add_argument("--runs", type=int, default=3, help="cadence: runs (the median of their p95s is reported)")
    parser.add_argument("--seconds", type=float, default=60, help="cadence: length of one run")
    parser.add_argument("--collectors", type=int, default=100, help="fleet: collectors (10 per site)")
    parser.add_argument("--minutes", type=float, default=10, help="fleet: length of the run")
    parser.add_argument("--processes", type=int, default=10, help="fleet: processes serving the collectors")
    parser.add_argument(
        "--rate", type=int, default=0, help="commands created per second per site (default 10; fleet 5)"
    )
    parser.add_argument(
        "--own-cluster",
        action="store_true",
        help="run against a scratch PostgreSQL cluster on loopback started with production's settings "
        "(docker-compose.yml's postgres command, autovacuum on), stopped and removed at the end",
    )
    args = parser.parse_args()
    if args.mode == "cadence" and args.runs < 1:
        parser.error("--runs must be at least 1")
    cluster = None
    if args.own_cluster:
        devcluster.exit_on_signals()  # TERM/HUP stop and remove the cluster too, as Ctrl-C does
        cluster = devcluster.PgCluster(devcluster.production_settings(), prefix="hi-bench-pg-")
        use_server(cluster.url())
        use_scratch_database("hi_cmdbench")
    try:
        met = run(args, cluster)
    finally:
        if cluster is not None:
            cluster.destroy("fast")
    if not met:
        sys.exit(3)


def run(args, cluster) -> bool:
    """The bench of args.mode; whether every target was met."""
    with scratch_database():
        started = time.perf_counter()
        sites_n = max(1, args.collectors // COLLECTORS) if args.mode == "fleet" else 1
        per_site = min(COLLECTORS, args.collectors) if args.mode == "fleet" else COLLECTORS
        tenant, sites, miners_by_site = setup_fleet(args.history, sites=sites_n, collectors_per_site=per_site)
        where = "its own cluster (docker-compose.yml's settings)" if cluster else "the DATABASE_URL server"
        print(
            f"command poll bench ({args.mode}) on {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
            f"against {where}: set-up of {sites_n} site(s), {args.history:,} historical commands in "
            f"{time.perf_counter() - started:.1f}s"
        )
        if args.mode == "burst":
            r, targets = burst_mode(args, tenant, sites, miners_by_site)
        else:
            rate = args.rate or (10 if args.mode == "cadence" else 5)
            producer = cadence.Producer(sites, miners_by_site, per_tick=rate, approvals=max(1, rate // 5))
            run_mode = cadence_mode if args.mode == "cadence" else fleet_mode
            r, targets = run_mode(args, producer, sites)
            r["commands_per_sec_per_site"] = rate
            r["vacuum_by_bench"] = producer.vacuum and f"every {cadence.VACUUM_EVERY_SEC} s (server autovacuum off)"
        r = new_results(
            mode=args.mode, collectors_as="processes (fork), one connection each", history=args.history, **r
        )
        r["load_avg_end"] = os.getloadavg()
        r["own_cluster"] = cluster and {"dir": str(cluster.dir), "port": cluster.port}
        r["server"] = server_settings()
        r["server_lacks"] = devcluster.settings_differing(r["server"])
        if r["server_lacks"]:
            print(
                "  note: this server lacks production's settings (docker-compose.yml; docs/DEPLOYMENT.md, "
                "'PostgreSQL settings that matter'): " + "; ".join(r["server_lacks"]) + ". Results are not "
                "comparable with a production server (--own-cluster runs one)."
            )
        report_targets(r, targets)
        write_results(f"command_poll_{args.mode}", r)
    return all(t[-1] for t in targets)


if __name__ == "__main__":
    main()
