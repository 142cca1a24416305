"""Sustained ingest soak (SPEC §12, issue 18): simulated collectors over real HTTP through gunicorn
at the collector's cadence while Celery beat and a worker run the rollups, for --minutes.

    .venv/bin/python bench/soak.py [--minutes 10] [--sites-per-step 10] [--step-minutes 1] [--miners 5000]

The collectors are the product's simulator (`manage.py simulate_fleet`, one process per step of
sites, raw every 60 s and latest every 30 s, 1,000-record chunks; bench/_soak_collectors.py
records each upload). Every --step-minutes another --sites-per-step sites start, until a step
misses (ingest lag ≥ 60 s or an upload failed); then that step stops and the rest of the run holds
the last level that kept up. Reported:

- the highest record rate kept with ingest lag < 60 s and no error (per step and overall);
- upload p50/p95/p99 (client side, each 1,000-record chunk), ingest lag (received_at − the
  record's timestamp, from telemetry_raw), rollup lag (the 15m watermark behind the last closed
  bucket) and the rollup runs' durations (worker log);
- CPU and RSS of each process (gunicorn, the worker, beat, the simulators, this database's
  PostgreSQL backends), the load average, database size growth per million records;
- the same number of records as bare COPY + upsert (bench/_ingest.py RawSqlPath) in the same run,
  after the collectors stop: rate and CPU per record beside the product's (ratios).

Writes bench/results/soak_<timestamp>.json and .md; exits 3 when no step kept up. Not part of
`make test` or `make bench` (`make soak`); tests/test_bench_smoke.py runs a seconds-long version.
"""

import argparse
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import _harness as harness

harness.use_scratch_database("hi_soak")

import psycopg2  # noqa: E402 — after use_scratch_database(), which must set DATABASE_URL before any Django import
from _harness import ROOT, percentile  # noqa: E402
from _ingest import Gunicorn, RawSqlPath  # noqa: E402
from _soak_stats import ProcStats, machine_busy  # noqa: E402

LAG_LIMIT_SEC = 60
AIM_RECORDS_PER_SEC = 8300  # 100 sites × 5,000 miners at the default cadence
SAMPLE_SEC = 5


def db_query(sql: str, params=()):
    with psycopg2.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    conn.close()
    return rows


def telemetry_bytes() -> int:
    """Bytes of the telemetry tables (every partition, with its indexes and TOAST)."""
    return int(
        db_query(
            "SELECT coalesce(sum(pg_total_relation_size(oid)), 0) FROM pg_class WHERE relkind = 'r' AND relname LIKE 'telemetry%%'"
        )[0][0]
    )


def register_sites(first: int, n: int, miners: int) -> list[str]:
    from audit.services import Actor
    from tenants.models import Collector, Site, Tenant
    from tenants.services import inventory_save, miners_register

    actor = Actor.system("bench.soak")
    tenant = Tenant.objects.get_or_create(slug="soak", defaults={"name": "Soak customer"})[0]
    codes = []
    for k in range(first, first + n):
        site = inventory_save(actor=actor, obj=Site(code=f"SITE-SOAK-{k:03d}", name=f"Soak site {k}"))
        inventory_save(actor=actor, obj=Collector(site=site, name="edge"))
        rows = [
            {"miner_id": f"S21_{m:04d}", "model": "S21", "nominal_hashrate_ths": 200, "nominal_power_w": 3500}
            for m in range(1, miners + 1)
        ]
        miners_register(actor=actor, site=site, tenant=tenant, rows=rows, reason="soak")
        codes.append(site.code)
    return codes


class Celery:
    """The worker and beat, as Procfile starts them, logging to files; stopped by their own pids."""

    def __init__(self, logdir: str, concurrency: int):
        self.logs = {name: os.path.join(logdir, f"{name}.log") for name in ("worker", "beat")}
        celery = str(ROOT / ".venv/bin/celery")
        cmds = {
            "worker": [celery, "-A", "hashinsight", "worker", "--loglevel", "INFO", "--concurrency", str(concurrency)]
            + ["--without-gossip", "--without-mingle"],
            "beat": [celery, "-A", "hashinsight", "beat", "--loglevel", "INFO"],
        }
        self.procs = {
            name: subprocess.Popen(cmd, cwd=ROOT, stdout=open(self.logs[name], "w"), stderr=subprocess.STDOUT)
            for name, cmd in cmds.items()
        }

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def rollup_runs(self) -> list[float]:
        """Seconds each telemetry.rollup task took, from the worker log."""
        text = open(self.logs["worker"]).read()
        return [float(s) for s in re.findall(r"Task telemetry\.rollup\[[^\]]+\] succeeded in ([0-9.]+)s", text)]


def start_collectors(codes: list[str], url: str, out: str, seed: int) -> subprocess.Popen:
    args = [sys.executable, str(ROOT / "bench/_soak_collectors.py"), "--out", out, "--"]
    for code in codes:
        args += ["--site", code]
    args += ["--create-token", "--url", url, "--interval", "60", "--batch-size", "1000", "--seed", str(seed)]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL)


def read_cycles(path: str) -> list[dict]:
    if not os.path.exists(path):  # started, but no cycle done yet
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def ingest_lag(since: dt.datetime, until: dt.datetime) -> tuple[float, float, int]:
    """p99 and max of received_at − ts (s), and the rows, for raw rows received in [since, until)."""
    ((p99, worst, n),) = db_query(
        "SELECT coalesce(percentile_disc(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - ts)), 0), "
        "coalesce(max(extract(epoch FROM received_at - ts)), 0), count(*) FROM telemetry_raw "
        "WHERE received_at >= %s AND received_at < %s",
        (since, until),
    )
    return float(p99), float(worst), n


def rollup_lag() -> float | None:
    """Seconds the 15m tier is behind: now − its watermark − the bucket − the grace (0 when current)."""
    from django.conf import settings

    rows = db_query(
        "SELECT extract(epoch FROM now() - closed_through) FROM telemetry_rollup_watermark WHERE tier = '15m'"
    )
    if not rows or rows[0][0] is None:
        return None
    return max(0.0, float(rows[0][0]) - 900 - settings.TELEMETRY_ROLLUP_GRACE_SEC)


def step_figures(cycles: list[dict], since: float, until: float, seconds: float) -> dict:
    mine = [c for c in cycles if since <= c["at"] < until]
    uploads = [u for c in mine for u in c["uploads"]]
    return {
        "records_accepted": sum(u[3] for u in uploads if u[1]),
        "records_per_sec": round(sum(u[3] for u in uploads if u[1]) / seconds, 1),
        "uploads": len(uploads),
        "failed_uploads": sum(not u[1] for u in uploads),
        "upload_p95_ms": round(percentile([u[0] for u in uploads], 0.95) * 1000, 1) if uploads else 0.0,
    }


def bare_copy(records: int, miners: int) -> dict:
    """The same number of records through RawSqlPath: bodies built first, then timed; the backend's
    CPU read from /proc beside the client's."""
    from telemetry.partitions import partitions_maintain
    from tenants.models import Miner, Site, Tenant
    from verification.fleet import Fleet, MinerSpec
    from verification.uplink import build_chunks

    code = register_sites(999, 1, miners)[0]
    partitions_maintain()
    site = Site.objects.get(code=code)
    ids = dict(Miner.objects.filter(site=site).values_list("miner_id", "pk"))
    fleet = Fleet(code, [MinerSpec(miner_id=m) for m in sorted(ids)], seed=5, offline_share=0.0)
    n = max(1, -(-records // miners))
    start = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=n + 5)
    bodies = []
    for k in range(n):
        at = start + dt.timedelta(minutes=k)
        recs = fleet.cycle(at, "raw")
        bodies.append(build_chunks(recs, mode="raw", site_code=code, device_id="copy", batch_size=len(recs))[0].body)
    path = RawSqlPath(site.pk, Tenant.objects.get(slug="soak").pk, ids)
    with path.conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    stats = ProcStats({"bare COPY backend": [backend], "bare COPY client": [os.getpid()]}, children=False)
    stats.sample()
    started = time.perf_counter()
    inserted = sum(path.ingest(body) for body in bodies)
    took = time.perf_counter() - started
    stats.sample()
    path.close()
    cpu = sum(g["cpu_sec"] for g in stats.summary(took).values())
    return {
        "records": inserted,
        "seconds": round(took, 2),
        "records_per_sec": round(inserted / took, 1),
        "cpu_sec_per_1000_records": round(cpu / inserted * 1000, 4),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--step-minutes", type=float, default=1)
    parser.add_argument(
        "--sites-per-step", type=int, default=10, help="sites added each step (10: the aim's 100 sites in 10 steps)"
    )
    parser.add_argument("--miners", type=int, default=5000, help="miners per site")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--celery-concurrency", type=int, default=1)
    parser.add_argument(
        "--copy-records",
        type=int,
        default=0,
        help="cap the bare COPY at this many records (default: as many as the soak)",
    )
    args = parser.parse_args()
    # `kill` (SIGTERM) stops the run like Ctrl-C: the finally blocks stop the simulators, gunicorn, the worker and beat
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    with harness.scratch_database():
        from django.db import connections

        from telemetry.partitions import partitions_maintain

        partitions_maintain()
        logdir = tempfile.mkdtemp(prefix="hi-soak-")
        size0 = telemetry_bytes()
        connections.close_all()
        web = Gunicorn(args.workers, log=os.path.join(logdir, "gunicorn.log"))
        celery = Celery(logdir, args.celery_concurrency)
        steps, groups, samples, sites = [], [], [], 0
        with web as url:
            stats = ProcStats({"gunicorn": [web.proc.pid], **{k: [p.pid] for k, p in celery.procs.items()}})
            busy0 = machine_busy()
            t0 = time.time()
            deadline = t0 + args.minutes * 60
            ramping = True
            try:
                while deadline - time.time() >= args.step_minutes * 30:  # at least half a step left
                    if ramping:
                        codes = register_sites(sites + 1, args.sites_per_step, args.miners)
                        connections.close_all()
                        if deadline - time.time() < args.step_minutes * 30:
                            break  # registering took the rest: a step shorter than half its length says nothing
                        out = os.path.join(logdir, f"collectors-{len(groups)}.jsonl")
                        proc = start_collectors(codes, url, out, seed=len(groups) + 1)
                        groups.append({"codes": codes, "proc": proc, "out": out})
                        stats.add(f"simulator {len(groups)}", proc.pid)
                        sites += len(codes)
                    since = time.time()
                    until = min(deadline, since + args.step_minutes * 60)
                    while time.time() < until:
                        time.sleep(min(SAMPLE_SEC, max(0.0, until - time.time())))
                        stats.add_postgres(db_query, harness._database)
                        stats.sample()
                        samples.append({"at": time.time() - t0, "load": os.getloadavg()[0], "rollup_lag": rollup_lag()})
                    cycles = [c for g in groups for c in read_cycles(g["out"])]
                    fig = step_figures(cycles, since, until, until - since)
                    p99, worst, rows = ingest_lag(
                        dt.datetime.fromtimestamp(since, dt.UTC), dt.datetime.fromtimestamp(until, dt.UTC)
                    )
                    fig |= {"sites": sites, "ingest_lag_p99_sec": round(p99, 2), "ingest_lag_max_sec": round(worst, 2)}
                    fig |= {"raw_rows": rows, "load_avg": round(os.getloadavg()[0], 2), "ramping": ramping}
                    fig["kept_up"] = (
                        worst < LAG_LIMIT_SEC and fig["failed_uploads"] == 0 and fig["records_accepted"] > 0
                    )
                    if not fig["uploads"]:
                        fig["kept_up"] = None  # no upload finished in the step yet (a simulator still starting)
                    steps.append(fig)
                    print(
                        f"  {time.time() - t0:5.0f}s {sites:3d} sites: {fig['records_per_sec']:8,.0f} records/s, "
                        f"upload p95 {fig['upload_p95_ms']:.0f} ms, ingest lag max {worst:.1f} s, "
                        f"{fig['failed_uploads']} failed, load {fig['load_avg']:.1f}{'  MISSED' if fig['kept_up'] is False else ''}"
                    )
                    sys.stdout.flush()
                    if ramping and fig["kept_up"] is False:
                        ramping = False  # hold: the last step was too much, so it stops (unless it is the only one)
                        live = [g for g in groups if not g.get("stopped")]
                        if len(live) > 1:
                            live[-1]["proc"].send_signal(signal.SIGTERM)
                            live[-1]["proc"].wait(timeout=60)
                            live[-1]["stopped"] = True
                            sites -= len(live[-1]["codes"])
            finally:
                for g in groups:
                    if g["proc"].poll() is None:
                        g["proc"].send_signal(signal.SIGTERM)
                for g in groups:
                    if g["proc"].poll() is None:
                        try:
                            g["proc"].wait(timeout=60)
                        except subprocess.TimeoutExpired:
                            g["proc"].kill()
                wall = time.time() - t0
                stats.sample()
                busy = machine_busy(busy0)
                celery.stop()
        cycles = [c for g in groups for c in read_cycles(g["out"])]
        uploads = [u for c in cycles for u in c["uploads"]]
        latencies = [u[0] for u in uploads]
        accepted = sum(u[3] for u in uploads if u[1])
        size1 = telemetry_bytes()
        procs = stats.summary(wall)
        stack_cpu = sum(g["cpu_sec"] for g in procs.values() if not g["role"].startswith("simulator"))
        server_cpu = sum(g["cpu_sec"] for name, g in procs.items() if name in ("gunicorn", "postgres backends"))
        copy = bare_copy(min(accepted, args.copy_records or accepted), args.miners) if accepted else {}
        kept = [s for s in steps if s["kept_up"]]
        best = max(kept, key=lambda s: s["records_per_sec"]) if kept else None
        rollups = celery.rollup_runs()
        lags = [s["rollup_lag"] for s in samples if s["rollup_lag"] is not None]
        r = harness.new_results(
            minutes=args.minutes,
            step_minutes=args.step_minutes,
            sites_per_step=args.sites_per_step,
            miners_per_site=args.miners,
            gunicorn_workers=args.workers,
            celery_concurrency=args.celery_concurrency,
            steps=steps,
            best=best,
            records_accepted=accepted,
            uploads=len(uploads),
            failed_uploads=sum(not u[1] for u in uploads),
            upload_ms={
                q: round(percentile(latencies, v) * 1000, 1) if latencies else 0.0
                for q, v in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
            },
            rollup={
                "runs": len(rollups),
                "max_sec": max(rollups, default=0.0),
                "lag_max_sec": max(lags, default=None),
                "lag_end_sec": lags[-1] if lags else None,
            },
            processes=procs,
            machine_busy_pct=busy,
            load_avg=[s["load"] for s in samples],
            db_growth_mb_per_million=round((size1 - size0) / accepted * 1e6 / 2**20, 1) if accepted else None,
            stack_cpu_sec_per_1000_records=round(stack_cpu / accepted * 1000, 4) if accepted else None,
            server_cpu_sec_per_1000_records=round(server_cpu / accepted * 1000, 4) if accepted else None,
            bare_copy=copy,
        )
        if best and copy:
            r["ratio_rate_vs_copy"] = round(best["records_per_sec"] / copy["records_per_sec"], 3)
            r["ratio_cpu_vs_copy"] = round(r["server_cpu_sec_per_1000_records"] / copy["cpu_sec_per_1000_records"], 2)
        if accepted and stack_cpu:
            r["records_per_cpu_sec"] = round(accepted / stack_cpu, 1)
        r["stack_cpu_pct_of_machine"] = round(stack_cpu / wall / (os.cpu_count() or 1) * 100, 1)
        r["ramp_ended_by_miss"] = not ramping
        r["verdict"] = verdict(r, best)
        from _soak_report import print_and_write

        print_and_write(r)
        connections.close_all()
    if best is None:
        sys.exit(3)


def verdict(r: dict, best: dict | None) -> str:
    if best is None:
        return "no step kept ingest lag < 60 s without errors"
    rate = best["records_per_sec"]
    if rate >= AIM_RECORDS_PER_SEC:
        return f"met: {rate:,.0f} records/s ≥ {AIM_RECORDS_PER_SEC:,}"
    cpus = os.cpu_count() or 1
    top = max(r["processes"].values(), key=lambda g: g["cpu_pct"])
    text = (
        f"{AIM_RECORDS_PER_SEC:,} not reached: {rate:,.0f} records/s kept on {cpus} cores ({rate / cpus:,.0f} per core; "
        f"{r.get('records_per_cpu_sec', 0):,.0f} records per CPU-second of the stack)"
    )
    if not r["ramp_ended_by_miss"]:
        return text + "; the run ended before a step missed (more --minutes or --sites-per-step find the limit)"
    if r["machine_busy_pct"] >= 85:
        return text + (
            f"; ran out of CPU: the machine was {r['machine_busy_pct']:.0f}% busy, this stack "
            f"{r['stack_cpu_pct_of_machine']:.0f}% of it (the rest other work on the shared box), the largest "
            f"consumer {top['role']} at {top['cpu_pct']:.0f}% of one core"
        )
    return text + f"; the machine was only {r['machine_busy_pct']:.0f}% busy: not CPU — see the upload and lag figures"


if __name__ == "__main__":
    main()
