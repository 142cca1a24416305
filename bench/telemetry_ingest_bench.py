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
import os
import time

import _harness as harness
from _harness import percentile
from _ingest import Gunicorn, RawSqlPath

BENCH_DB = "hi_bench_telemetry"
harness.use_scratch_database(BENCH_DB)


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
