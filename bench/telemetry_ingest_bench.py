"""Telemetry ingest benchmark (SPEC §12): one 5,000-record gzip upload end to end over HTTP,
against the best raw-SQL upsert of the same rows, measured on the same machine in the same run.

    .venv/bin/python bench/telemetry_ingest_bench.py [--uploads 25] [--server gunicorn|inprocess]

Creates a scratch database (hi_bench_telemetry on the server of DATABASE_URL), migrates it,
registers a 5,000-miner site, starts gunicorn on a free port (or the in-process server), then:

- ours: p50/p95 of `--uploads` legacy uploads (X-Upload-Mode raw, 5,000 records, fresh
  timestamps each) through POST /api/collector/upload, timed at the client;
- baseline: the same kind of body (other fresh timestamps) decoded in-process, COPY into a
  temporary staging table, INSERT … ON CONFLICT DO NOTHING into telemetry_raw and
  INSERT … ON CONFLICT DO UPDATE (newer only) into telemetry_live, one transaction;
- the two are interleaved so drift on the machine hits both alike;
- replay: one upload re-sent byte for byte, new rows per tier (must all be 0).

Targets: p95 ≤ 300 ms and ≥ 0.5× the baseline's throughput. Results are printed and written to
bench/results/telemetry_ingest_<timestamp>.json. Stops its server and drops its database.
"""

import argparse
import datetime as dt
import gzip
import io
import os
import socket
import subprocess
import tempfile
import time

import _harness as harness
import orjson
import psycopg2
import requests
from _harness import ROOT, percentile

BENCH_DB = "hi_bench_telemetry"
harness.use_scratch_database(BENCH_DB)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """The production server, as `make run` starts it, on a free port; stopped by its own pid."""

    def __init__(self, workers: int):
        self.port = free_port()
        self.metrics_dir = tempfile.TemporaryDirectory(prefix="hi-bench-metrics-")
        env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir.name,
        }
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "hashinsight.wsgi", "-c", "gunicorn.conf.py"], cwd=ROOT, env=env
        )

    def __enter__(self) -> str:
        url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}")
            try:
                if requests.get(url + "/ready", timeout=2).status_code == 200:
                    return url
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError("gunicorn did not become ready in 60 s")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.metrics_dir.cleanup()


def setup_site(miners: int):
    from audit.services import Actor
    from telemetry.partitions import partitions_maintain
    from tenants.models import Collector, Miner, Site, Tenant
    from tenants.services import collector_token_create, inventory_save, miners_register

    actor = Actor.system("bench.telemetry")
    tenant = inventory_save(actor=actor, obj=Tenant(slug="bench", name="Bench customer"))
    site = inventory_save(actor=actor, obj=Site(code="SITE-BENCH", name="Bench site"))
    collector = inventory_save(actor=actor, obj=Collector(site=site, name="edge-bench"))
    _, token = collector_token_create(actor=actor, collector=collector, label="bench")
    rows = [
        {"miner_id": f"S21_{n:04d}", "model": "S21", "nominal_hashrate_ths": 200, "nominal_power_w": 3500}
        for n in range(1, miners + 1)
    ]
    miners_register(actor=actor, site=site, tenant=tenant, rows=rows, reason="bench")
    partitions_maintain()
    ids = dict(Miner.objects.filter(site=site).values_list("miner_id", "pk"))
    return tenant, site, token, ids


RAW_COLUMNS = (
    "site_id, miner_id, ts, tenant_id, received_at, batch_id, device_id, mode, temperature_chips, online, hashrate_ghs, "
    "hashrate_5s_ghs, temperature_avg, temperature_max, frequency_avg, fan_speeds, accepted_shares, rejected_shares, "
    "hardware_errors, uptime_seconds, pool_url, worker_name, error_message"
)
SAMPLE = (
    "online, hashrate_ghs, hashrate_5s_ghs, temperature_avg, temperature_max, frequency_avg, fan_speeds, accepted_shares, "
    "rejected_shares, hardware_errors, uptime_seconds, pool_url, worker_name, error_message, temperature_chips"
).split(", ")
LIVE_SQL = (
    f"INSERT INTO telemetry_live AS l (miner_id, site_id, tenant_id, ts, received_at, device_id, {', '.join(SAMPLE)}) "
    f"SELECT DISTINCT ON (miner_id) miner_id, site_id, tenant_id, ts, received_at, device_id, {', '.join(SAMPLE)} FROM stage ORDER BY miner_id, ts DESC "
    "ON CONFLICT (miner_id) DO UPDATE SET ts = EXCLUDED.ts, received_at = EXCLUDED.received_at, device_id = EXCLUDED.device_id, "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in SAMPLE if c not in ("pool_url", "worker_name"))
    + ", pool_url = coalesce(nullif(EXCLUDED.pool_url, ''), l.pool_url), worker_name = coalesce(nullif(EXCLUDED.worker_name, ''), l.worker_name) "
    "WHERE l.ts < EXCLUDED.ts"
)


class RawSqlPath:
    """The floor: bytes → gunzip → JSON → COPY into staging → upsert raw and live, one transaction."""

    def __init__(self, site_id: int, tenant_id: int, ids: dict):
        self.conn = psycopg2.connect(os.environ["DATABASE_URL"])
        self.site_id, self.tenant_id, self.ids = site_id, tenant_id, ids
        with self.conn, self.conn.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE stage AS SELECT {RAW_COLUMNS} FROM telemetry_raw WITH NO DATA")

    def ingest(self, body: bytes) -> int:
        records = orjson.loads(gzip.decompress(body))
        now = dt.datetime.now(dt.UTC).isoformat()
        head = f"{self.site_id}\t"
        tail = f"\t{self.tenant_id}\t{now}\t0\tbench\traw\t"
        lines = []
        for r in records:
            chips = "{" + ",".join(map(str, r["temperature_chips"])) + "}"
            fans = "{" + ",".join(map(str, r["fan_speeds"])) + "}"
            lines.append(
                f"{head}{self.ids[r['miner_id']]}\t{r['timestamp']}+00{tail}{chips}\t{'t' if r['online'] else 'f'}\t{r['hashrate_ghs']}\t"
                f"{r['hashrate_5s_ghs']}\t{r['temperature_avg']}\t{r['temperature_max']}\t{r['frequency_avg']}\t{fans}\t"
                f"{r['accepted_shares']}\t{r['rejected_shares']}\t{r['hardware_errors']}\t{r['uptime_seconds']}\t"
                f"{r['pool_url']}\t{r['worker_name']}\t{r['error_message']}\n"
            )
        with self.conn, self.conn.cursor() as cur:
            cur.execute("TRUNCATE stage")
            cur.copy_expert(f"COPY stage ({RAW_COLUMNS}) FROM STDIN", io.StringIO("".join(lines)))
            cur.execute(
                f"INSERT INTO telemetry_raw ({RAW_COLUMNS}) SELECT {RAW_COLUMNS} FROM stage ON CONFLICT DO NOTHING"
            )
            inserted = cur.rowcount
            cur.execute(LIVE_SQL)
        return inserted

    def close(self):
        self.conn.close()


def tier_counts(site_id: int) -> dict:
    from django.db import connection

    out = {}
    with connection.cursor() as cur:
        for tier, table in (
            ("raw", "telemetry_raw"),
            ("1m", "telemetry_1m"),
            ("live", "telemetry_live"),
            ("15m", "telemetry_15m"),
            ("daily", "telemetry_daily"),
        ):
            cur.execute(f"SELECT count(*) FROM {table} WHERE site_id = %s", [site_id])
            out[tier] = cur.fetchone()[0]
        cur.execute("SELECT coalesce(sum(samples), 0) FROM telemetry_1m WHERE site_id = %s", [site_id])
        out["1m_samples"] = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM telemetry_ingestbatch WHERE site_id = %s", [site_id])
        out["receipts"] = cur.fetchone()[0]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=25, help="timed uploads (≥ 20)")
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--server", choices=("gunicorn", "inprocess"), default="gunicorn")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()
    if args.uploads < 20:
        parser.error("--uploads must be at least 20 (p95)")

    with harness.scratch_database():
        from verification.fleet import Fleet, MinerSpec
        from verification.uplink import Uplink, build_chunks

        tenant, site, token, ids = setup_site(args.records)
        specs = [MinerSpec(miner_id=m, model="S21", nominal_ths=200) for m in sorted(ids)]
        fleet = Fleet(site.code, specs, seed=11, offline_share=0.0, heating_share=0.01)
        warmup = 3
        start = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=2 * (args.uploads + warmup) + 5)
        ours_bodies, base_bodies = [], []
        for k in range(args.uploads + warmup):
            # Fresh timestamps for every body: upload k at start + 2k min, its baseline twin 1 min later.
            for at, bucket in (
                (start + dt.timedelta(minutes=2 * k), ours_bodies),
                (start + dt.timedelta(minutes=2 * k + 1), base_bodies),
            ):
                records = fleet.cycle(at, "raw")
                bucket.append(
                    build_chunks(
                        records,
                        mode="raw",
                        site_code=site.code,
                        device_id="bench-device",
                        batch_size=len(records),
                        sent_at=at,
                    )[0]
                )
        body_kb = sum(len(c.body) for c in ours_bodies) / len(ours_bodies) / 1024

        from django.db import connections

        connections.close_all()
        server_cm = Gunicorn(args.workers) if args.server == "gunicorn" else None
        if server_cm is None:
            from verification.server import LocalServer

            server_cm = LocalServer()
        baseline = RawSqlPath(site.pk, tenant.pk, ids)
        ours, base, answers = [], [], []
        with server_cm as url:
            uplink = Uplink(url, token=token, site_code=site.code, device_id="bench-device")
            try:
                for k in range(args.uploads + warmup):
                    sent = uplink.send(ours_bodies[k])
                    if not sent.ok or sent.count("accepted") != ours_bodies[k].records:
                        raise RuntimeError(f"upload {k} answered {sent.status} {sent.answer or sent.error}")
                    started = time.perf_counter()
                    inserted = baseline.ingest(base_bodies[k].body)
                    took = time.perf_counter() - started
                    if inserted != base_bodies[k].records:
                        raise RuntimeError(f"baseline inserted {inserted} of {base_bodies[k].records}")
                    if k >= warmup:
                        ours.append(sent.latency)
                        base.append(took)
                        answers.append(sent.answer)
                before = tier_counts(site.pk)
                replay = uplink.send(ours_bodies[warmup])
                after = tier_counts(site.pk)
            finally:
                uplink.close()
                baseline.close()

        n = args.records
        r = harness.new_results(
            server=args.server,
            workers=args.workers if args.server == "gunicorn" else 1,
            records_per_upload=n,
            uploads=args.uploads,
            body_kb=round(body_kb, 1),
            ours_ms={
                "p50": percentile(ours, 0.5) * 1000,
                "p95": percentile(ours, 0.95) * 1000,
                "max": max(ours) * 1000,
            },
            baseline_ms={
                "p50": percentile(base, 0.5) * 1000,
                "p95": percentile(base, 0.95) * 1000,
                "max": max(base) * 1000,
            },
        )
        r["ours_records_per_s"] = n / percentile(ours, 0.5)
        r["baseline_records_per_s"] = n / percentile(base, 0.5)
        r["throughput_ratio"] = r["ours_records_per_s"] / r["baseline_records_per_s"]
        r["replay"] = {
            "status": replay.status,
            "answer": {k: replay.answer.get(k) for k in ("success", "received", "accepted", "rejected", "duplicates")},
            "new_rows": {
                tier: after[tier] - before[tier] for tier in ("raw", "1m", "1m_samples", "live", "15m", "daily")
            },
            "new_receipts": after["receipts"] - before["receipts"],
        }
        replay_clean = replay.ok and not any(r["replay"]["new_rows"].values())
        targets = [
            ("upload p95 (ms)", r["ours_ms"]["p95"], 300, "≤ 300 ms", r["ours_ms"]["p95"] <= 300),
            ("throughput vs raw SQL", r["throughput_ratio"], 0.5, "≥ 0.5×", r["throughput_ratio"] >= 0.5),
            ("replay: new rows in every tier", sum(r["replay"]["new_rows"].values()), 0, "= 0", replay_clean),
        ]
        print(
            f"telemetry ingest bench on {os.cpu_count()} CPUs: {args.uploads} uploads of {n:,} records ({body_kb:.0f} kB gzip), server {args.server}"
        )
        print(
            f"  ours (HTTP, end to end): p50 {r['ours_ms']['p50']:.0f} ms, p95 {r['ours_ms']['p95']:.0f} ms, {r['ours_records_per_s']:,.0f} records/s"
        )
        print(
            f"  raw SQL (COPY + ON CONFLICT into raw + live): p50 {r['baseline_ms']['p50']:.0f} ms, p95 {r['baseline_ms']['p95']:.0f} ms, {r['baseline_records_per_s']:,.0f} records/s"
        )
        print(f"  ratio ours/raw SQL throughput: {r['throughput_ratio']:.2f}×")
        print(
            f"  replay of one upload: HTTP {replay.status} {r['replay']['answer']}; new rows per tier {r['replay']['new_rows']}, receipts +{r['replay']['new_receipts']}"
        )
        harness.report_targets(r, targets)
        harness.write_results("telemetry_ingest", r)


if __name__ == "__main__":
    main()
