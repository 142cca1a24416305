"""Evidence pack of a 5,000-miner site (issue 13: 30 days ≤ 60 s, peak memory bounded and
independent of the period length), beside the bare SQL of the same reads in the same run.

    .venv/bin/python bench/evidence_pack_bench.py [--miners 5000] [--days 30]

Creates a scratch database (hi_bench_evidence on the server of DATABASE_URL), migrates it and fills
one site: the customer's `miners` miners and another customer's 500 (the pack must skip them), 37
days of daily rows and 7 days of 15-minute rows per miner, an upload receipt a minute, one downtime
interval per miner per day, a command per miner, alerts, work orders and 10,000 audit events on
the customer's chain. Then builds the pack for 2, 7 and `days` days (15m, 15m and daily metric
tiers) as the worker does, recording each build's wall time and peak RSS (VmHWM, reset before each
build through /proc/self/clear_refs), and times the bare SQL of the same reads (a server-side cursor
fetching every row, writing nothing). Drops the database at the end. Results are printed and written
to bench/results/evidence_pack_<timestamp>.json.
"""

import argparse
import datetime as dt
import os
import time

import _harness as harness
import psycopg2

BENCH_DB = "hi_bench_evidence"
TARGET_SEC = 60.0
harness.use_scratch_database(BENCH_DB)

AGG = (
    "samples, online_samples, hashrate_5s_sum, hashrate_5s_count, hashrate_5s_max, temperature_max_max, "
    "temperature_max_sum, temperature_max_count, frequency_sum, frequency_count, first_ts, last_ts, revision, "
    "corrected, updated_at"
)
VALS = "90, 88, 88 * 190000.0, 88, 195000.0, 75, 88 * 70.0, 88, 0, 0, b, b, 0, false, now()"


def _rss_reset() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _rss_peak_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def fill(miners: int, days: int, end: dt.datetime):
    from django.contrib.auth import get_user_model
    from django.db import connection

    from audit.services import Actor, EventSpec, audit_record_many
    from control.models import Command
    from hosting.models import Alert, WorkOrder
    from telemetry.models import IngestBatch
    from tenants.models import Collector, Miner, MinerOwnership, Role, RoleGrant, Site, Tenant

    first = end - dt.timedelta(days=days + 7)
    site = Site.objects.create(code="BENCH-EV", name="Bench evidence site")
    tenant, other = (
        Tenant.objects.create(slug="bench-a", name="Bench A"),
        Tenant.objects.create(slug="bench-b", name="B"),
    )
    rows = [Miner(site=site, tenant=tenant, miner_id=f"S21_{i:05d}", nominal_hashrate_ths=200) for i in range(miners)]
    rows += [Miner(site=site, tenant=other, miner_id=f"B_{i:05d}", nominal_hashrate_ths=200) for i in range(500)]
    rows = Miner.objects.bulk_create(rows, batch_size=2000)
    MinerOwnership.objects.bulk_create(
        [MinerOwnership(miner=m, tenant_id=m.tenant_id, valid_from=first) for m in rows], batch_size=2000
    )
    collector = Collector.objects.create(site=site, name="edge-ev")
    user = get_user_model().objects.create(username="bench-customer")
    RoleGrant.objects.create(user=user, role=Role.CUSTOMER, tenant=tenant)
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO telemetry_daily (site_id, tenant_id, miner_id, day, {AGG}) "
            f"SELECT m.site_id, m.tenant_id, m.id, b::date, {VALS} FROM tenants_miner m, "
            "generate_series(%s::timestamptz, %s::timestamptz, interval '1 day') b",
            [first, end],
        )
        cur.execute(
            f"INSERT INTO telemetry_15m (site_id, tenant_id, miner_id, bucket, {AGG}) "
            f"SELECT m.site_id, m.tenant_id, m.id, b, {VALS} FROM tenants_miner m, "
            "generate_series(%s::timestamptz - interval '7 days', %s::timestamptz - interval '15 minutes', "
            "interval '15 minutes') b",
            [end, end],
        )
        cur.execute(
            "INSERT INTO hosting_downtimeinterval (miner_id, tenant_id, site_id, started_at, ended_at, cause, evidence, "
            "created_at, updated_at) SELECT m.id, m.tenant_id, m.site_id, d + (m.id %% 600) * interval '1 minute', "
            "d + (m.id %% 600 + 10) * interval '1 minute', CASE m.id %% 3 WHEN 0 THEN 'offline' WHEN 1 THEN "
            "'zero_hashrate' ELSE 'unmeasured' END, '{\"minutes\": 10}', now(), now() FROM tenants_miner m, "
            "generate_series(%s::timestamptz, %s::timestamptz - interval '1 day', interval '1 day') d",
            [first, end],
        )
    IngestBatch.objects.bulk_create(
        [
            IngestBatch(
                site=site,
                collector=collector,
                token_prefix="bench",
                endpoint="v1",
                body_format="envelope",
                received_at=end - dt.timedelta(minutes=k + 0.5),
                body_sha256="0" * 64,
                body_bytes=1,
                record_count=miners,
                accepted=miners,
                rejected=0,
                duplicates=0,
            )
            for k in range(days * 1440)
            if not (600 <= k < 640)  # a 40-minute dark collector
        ],
        batch_size=5000,
    )
    Command.objects.bulk_create(
        [
            Command(
                tenant_id=m.tenant_id,
                site=site,
                miner=m,
                command_type="reboot",
                state="succeeded",
                reason="bench",
                created_at=end - dt.timedelta(hours=1 + i % 600),
                updated_at=end,
                ttl_sec=600,
                expires_at=end,
                finished_at=end - dt.timedelta(hours=i % 600),
                outcome="verified",
                created_by_system="bench",
            )
            for i, m in enumerate(rows)
        ],
        batch_size=2000,
    )
    Alert.objects.bulk_create(
        [
            Alert(
                tenant=tenant,
                site=site,
                miner=rows[i],
                kind="miner_offline",
                title=f"offline {i}",
                dedupe_key=f"a{i}",
                state="resolved",
                fired_at=end - dt.timedelta(hours=i),
                resolved_at=end,
            )
            for i in range(200)
        ]
    )
    WorkOrder.objects.bulk_create(
        [
            WorkOrder(
                tenant=tenant,
                site=site,
                miner=rows[i],
                title=f"fix {i}",
                created_at=end - dt.timedelta(hours=i),
                updated_at=end,
            )
            for i in range(100)
        ]
    )
    actor = Actor.system("bench")
    for batch in range(5):
        audit_record_many(
            actor=actor,
            events=[
                EventSpec("bench.event", "tenants.miner", str(k), {"n": k, "batch": batch}, tenant.pk, site.code)
                for k in range(2000)
            ],
        )
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    return user, tenant, site


RAW = [
    "SELECT * FROM hosting_downtimeinterval WHERE site_id = %(site)s AND tenant_id = %(tenant)s "
    "AND started_at < %(end)s AND (ended_at IS NULL OR ended_at > %(start)s)",
    "SELECT * FROM control_command WHERE site_id = %(site)s AND tenant_id = %(tenant)s AND created_at < %(end)s "
    "AND (created_at >= %(start)s OR finished_at IS NULL OR finished_at >= %(start)s)",
    "SELECT received_at FROM telemetry_ingestbatch WHERE site_id = %(site)s AND received_at >= %(start)s "
    "AND received_at < %(end)s ORDER BY received_at",
    "SELECT * FROM audit_auditevent WHERE chain_key = %(chain)s AND occurred_at >= %(start)s "
    "AND occurred_at < %(end)s ORDER BY seq",
]
RAW_TIER = {
    "15m": "SELECT * FROM telemetry_15m WHERE site_id = %(site)s AND tenant_id = %(tenant)s "
    "AND bucket >= %(start)s AND bucket < %(end)s ORDER BY miner_id, bucket",
    "daily": "SELECT * FROM telemetry_daily WHERE site_id = %(site)s AND tenant_id = %(tenant)s "
    "AND day >= %(start)s::date AND day < %(end)s::date ORDER BY miner_id, day",
}


def raw_reads(params: dict, tier: str) -> float:
    conn = psycopg2.connect(os.environ["DATABASE_URL"])
    started = time.perf_counter()
    for n, sql in enumerate([*RAW, RAW_TIER[tier]]):
        with conn.cursor(name=f"raw{n}") as cur:
            cur.itersize = 5000
            cur.execute(sql, params)
            for _ in cur:
                pass
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def build(user, tenant, site, start, end) -> dict:
    from hosting.evidence.builder import build_pack_zip
    from hosting.evidence.context import BuildContext
    from hosting.evidence.sections_downtime import metrics_tier

    reset = _rss_reset()
    started = time.perf_counter()
    ctx = BuildContext(user=user, tenant=tenant, site=site, start=start, end=end, now=end)
    path, _digest, size = build_pack_zip(ctx)
    elapsed = time.perf_counter() - started
    peak = _rss_peak_mb()
    path.unlink()
    return {
        "seconds": elapsed,
        "peak_rss_mb": peak,
        "rss_reset": reset,
        "zip_bytes": size,
        "tier": metrics_tier(start, end, len(ctx.miner_pks)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--miners", type=int, default=5000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    with harness.scratch_database():
        from django.utils import timezone

        end = timezone.now().replace(second=0, microsecond=0) + dt.timedelta(minutes=5)
        started = time.perf_counter()
        user, tenant, site = fill(args.miners, args.days, end)
        fill_sec = time.perf_counter() - started
        r = harness.new_results(miners=args.miners, days=args.days, fill_seconds=round(fill_sec, 1), builds={})
        print(
            f"evidence pack bench on {os.cpu_count()} CPUs: {args.miners:,} miners (+500 of another customer), "
            f"filled in {fill_sec:.0f} s"
        )
        for days in (2, 7, args.days):
            start = end - dt.timedelta(days=days)
            b = build(user, tenant, site, start, end)
            params = {"site": site.pk, "tenant": tenant.pk, "start": start, "end": end, "chain": f"tenant:{tenant.pk}"}
            b["raw_sql_seconds"] = raw_reads(params, b["tier"])
            r["builds"][f"{days}d"] = b
            print(
                f"  {days:3d} days ({b['tier']:5s}): pack {b['seconds']:6.1f} s, peak RSS {b['peak_rss_mb']:6.1f} MB, "
                f"zip {b['zip_bytes'] / 1e6:6.1f} MB; bare SQL of the same reads {b['raw_sql_seconds']:5.1f} s"
            )
        peaks = [b["peak_rss_mb"] for b in r["builds"].values()]
        r["rss_spread_mb"] = max(peaks) - min(peaks)
        long = r["builds"][f"{args.days}d"]
        harness.report_targets(
            r,
            [
                harness.at_least("pack headroom (s)", TARGET_SEC - long["seconds"], 0, f"{args.days}-day pack ≤ 60 s"),
                ("peak RSS spread across periods (MB)", r["rss_spread_mb"], 64.0, "≤ 64 MB", r["rss_spread_mb"] <= 64),
            ],
        )
        harness.write_results("evidence_pack", r)


if __name__ == "__main__":
    main()
