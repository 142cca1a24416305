"""Live state of a 5,000-miner site (SPEC §12: p95 ≤ 50 ms), as a ratio against raw SQL run on
the same machine in the same run.

    .venv/bin/python bench/telemetry_live_bench.py [--miners 5000] [--requests 200]

Creates a scratch database (hi_bench_live on the server of DATABASE_URL), migrates it, fills one
site with miners of two tenants and their live rows, then times the whole request path of
GET /api/v1/telemetry/live?format=compact (middleware, session auth, scoping, state derivation,
JSON) against the bare SQL query returning the same columns. Drops the database at the end.
Results are printed and written to bench/results/telemetry_live_<timestamp>.json.
"""

import argparse
import datetime as dt
import json
import os
import statistics
import time

import _harness as harness
import psycopg2
from _harness import p95

BENCH_DB = "hi_bench_live"
TARGET_P95_MS = 50.0
harness.use_scratch_database(BENCH_DB)

RAW_SQL = """
SELECT m.miner_id, z.code, t.slug,
       CASE WHEN l.ts >= %(cutoff)s AND l.online THEN 'online'
            WHEN l.ts >= %(cutoff)s THEN 'offline'
            WHEN EXISTS (SELECT 1 FROM telemetry_ingestbatch b WHERE b.site_id = m.site_id AND b.received_at >= %(cutoff)s) THEN 'offline'
            ELSE 'unknown' END,
       l.ts, l.hashrate_5s_ghs, l.temperature_max
FROM tenants_miner m
JOIN tenants_tenant t ON t.id = m.tenant_id
LEFT JOIN tenants_zone z ON z.id = m.zone_id
LEFT JOIN telemetry_live l ON l.miner_id = m.id
WHERE m.site_id = %(site)s
ORDER BY m.miner_id
"""


def fill(miners: int):
    """One site, four zones, tenants A and B sharing it; 90 % online, 5 % stale, 5 % never reported."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from telemetry.models import IngestBatch, TelemetryLive
    from tenants.models import Collector, Miner, Role, RoleGrant, Site, Tenant, Zone

    now = timezone.now()
    site = Site.objects.create(code="BENCH-SITE", name="Bench site")
    zones = [Zone.objects.create(site=site, code=f"Z{i}") for i in range(4)]
    tenant_a = Tenant.objects.create(slug="bench-a", name="Bench A")
    tenant_b = Tenant.objects.create(slug="bench-b", name="Bench B")
    rows = Miner.objects.bulk_create(
        Miner(
            site=site, zone=zones[i % 4], tenant=tenant_a if i % 2 else tenant_b, miner_id=f"S21_{i:05d}", model="S21"
        )
        for i in range(miners)
    )
    live = []
    for i, m in enumerate(rows):
        if i % 20 == 19:
            continue  # never reported
        age = 900 if i % 20 == 18 else 15
        live.append(
            TelemetryLive(
                miner=m,
                site=site,
                tenant=m.tenant,
                ts=now - dt.timedelta(seconds=age),
                received_at=now,
                online=True,
                hashrate_5s_ghs=200_000.0 + i,
                hashrate_ghs=199_000.0,
                temperature_max=60.0 + i % 30,
                temperature_avg=55.0,
                fan_speeds=[5400, 5460, 5380, 5420],
                pool_url="stratum+tcp://pool:3333",
                worker_name=f"w.{i}",
            )
        )
    TelemetryLive.objects.bulk_create(live, batch_size=1000)
    collector = Collector.objects.create(site=site, name="bench-edge")
    IngestBatch.objects.create(
        site=site,
        collector=collector,
        token_prefix="bench",
        endpoint="v1",
        body_format="envelope",
        received_at=now,
        body_sha256="0" * 64,
        body_bytes=1,
        record_count=miners,
        accepted=miners,
        rejected=0,
        duplicates=0,
    )
    User = get_user_model()
    noc = User.objects.create(username="bench-noc")
    RoleGrant.objects.create(user=noc, role=Role.NOC, site=site)
    customer = User.objects.create(username="bench-customer")
    RoleGrant.objects.create(user=customer, role=Role.CUSTOMER, tenant=tenant_a)
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    return site, noc, customer


def time_api(user, path: str, requests: int, expected: int) -> list[float]:
    from django.test import Client

    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    for _ in range(10):  # warm: connection, caches, code paths
        client.get(path)
    out = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        body = response.content
        out.append((time.perf_counter() - started) * 1000)
    assert response.status_code == 200, response.content[:300]
    assert json.loads(body)["count"] == expected
    return out


def time_raw(site_id: int, requests: int, expected: int) -> list[float]:
    from django.conf import settings

    conn = psycopg2.connect(os.environ["DATABASE_URL"])
    conn.autocommit = True
    out = []
    for i in range(requests + 10):
        started = time.perf_counter()
        with conn.cursor() as cur:
            cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=settings.TELEMETRY_STALE_SEC)
            cur.execute(RAW_SQL, {"cutoff": cutoff, "site": site_id})
            rows = cur.fetchall()
        if i >= 10:
            out.append((time.perf_counter() - started) * 1000)
    assert len(rows) == expected
    conn.close()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--miners", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    with harness.scratch_database():
        site, noc, customer = fill(args.miners)
        path = f"/api/v1/telemetry/live?site_id={site.code}&format=compact"
        # Interleave API and raw SQL rounds so drift on the machine hits both alike.
        api, raw, cust = [], [], []
        for _ in range(4):
            raw += time_raw(site.pk, args.requests // 4, args.miners)
            api += time_api(noc, path, args.requests // 4, args.miners)
            cust += time_api(customer, path, args.requests // 4, args.miners // 2)
        r = harness.new_results(
            miners=args.miners,
            requests=len(api),
            raw_sql_p50_ms=statistics.median(raw),
            raw_sql_p95_ms=p95(raw),
            api_p50_ms=statistics.median(api),
            api_p95_ms=p95(api),
            api_customer_half_site_p95_ms=p95(cust),
        )
        r["api_vs_raw_p95"] = r["api_p95_ms"] / r["raw_sql_p95_ms"]
        met = r["api_p95_ms"] <= TARGET_P95_MS
        r["target"] = {"p95_ms": TARGET_P95_MS, "met": met}
        print(
            f"telemetry live bench on {os.cpu_count()} CPUs: one site of {args.miners:,} miners, {len(api)} requests each"
        )
        print(f"  raw SQL query:               p50 {r['raw_sql_p50_ms']:6.1f} ms   p95 {r['raw_sql_p95_ms']:6.1f} ms")
        print(f"  API compact (NOC, all):      p50 {r['api_p50_ms']:6.1f} ms   p95 {r['api_p95_ms']:6.1f} ms")
        print(f"  API compact (customer, 1/2): p95 {r['api_customer_half_site_p95_ms']:6.1f} ms")
        print(f"  API / raw SQL at p95: {r['api_vs_raw_p95']:.2f}×")
        print(f"  {harness.mark(met)} live state p95 {r['api_p95_ms']:.1f} ms (target ≤ {TARGET_P95_MS:.0f} ms)")
        harness.write_results("telemetry_live", r)


if __name__ == "__main__":
    main()
