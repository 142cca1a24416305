"""GET /api/v1/portal/my-reports of a 5,000-miner tenant: the last full month's SLA summary built on
every call, and kept in the cache (PORTAL_MY_REPORTS_CACHE_SEC), beside the bare SQL of the same
figures in the same run.

    .venv/bin/python bench/portal_reports_bench.py [--miners 5000] [--requests 10] [--cached 100]

Creates a scratch database (hi_bench_portal_reports on the server of DATABASE_URL), migrates it,
fills two sites with the tenant's miners (and another tenant's 1,000 at the shared site), their
ownership since before the month, live rows, the whole last month in the 15m tier (96 buckets a
day per miner), two downtime intervals per miner in the month (offline, zero hashrate or
maintenance) and a few hundred audit events on the tenant's chain. Then, as the customer through
the whole request path (middleware, token-less session, scoping, the report, JSON):

- `uncached`: PORTAL_MY_REPORTS_CACHE_SEC=0, the SLA report built for every call (`--requests`);
- `before`: the same, with the hashrate read the report had before (one scan of the month's 15m
  rows for the sums and a second for their newest bucket, JIT on), for the before/after ratio;
- `cached`: the default, after one call that fills the cache (`--cached` calls);
- `raw`: the bare SQL of the same figures, hand-written (ownership and downtime minutes, the
  month's 15m hash per miner, the audit counts, the dashboard's per-site counts) — the floor for
  building the figures on every call.

Drops the database at the end. Results are printed and written to bench/results/portal_reports_<timestamp>.json.
"""

import argparse
import datetime as dt
import os
import statistics
import time

import _harness as harness
from _harness import p95
from _portal_fleet import AGGREGATES, FULL_BUCKET, customer_of, fleet, live_row, receipts, time_sql

BENCH_DB = "hi_bench_portal_reports"
TARGET_P95_MS = 300.0
harness.use_scratch_database(BENCH_DB)
# Keys of this run only (the cache may be a Redis others use): nothing to clear, nothing stale.
os.environ["CACHE_KEY_PREFIX"] = f"bench-portal-reports-{os.getpid()}-{int(time.time())}"

RAW = [
    # ownership minutes and downtime minutes per cause of every miner the tenant owned in the month
    """WITH owned AS (
        SELECT o.miner_id, o.tenant_id, sum(greatest(extract(epoch FROM
            least(coalesce(o.valid_to, %(end)s), %(end)s) - greatest(o.valid_from, %(start)s)), 0) / 60) AS minutes
        FROM tenants_minerownership o
        WHERE o.tenant_id = %(tenant)s AND o.valid_from < %(end)s AND (o.valid_to IS NULL OR o.valid_to > %(start)s)
        GROUP BY 1, 2),
    down AS (
        SELECT d.miner_id, d.tenant_id, d.cause, sum(greatest(extract(epoch FROM
            least(coalesce(d.ended_at, %(end)s), %(end)s) - greatest(d.started_at, %(start)s)), 0) / 60) AS minutes
        FROM hosting_downtimeinterval d
        WHERE d.tenant_id = %(tenant)s AND d.started_at < %(end)s AND (d.ended_at IS NULL OR d.ended_at > %(start)s)
        GROUP BY 1, 2, 3)
    SELECT o.miner_id, o.minutes, d.cause, d.minutes FROM owned o
    LEFT JOIN down d ON d.miner_id = o.miner_id AND d.tenant_id = o.tenant_id""",
    # the hash each miner delivered in the month
    """SELECT miner_id, tenant_id, sum(hashrate_5s_sum::float / nullif(samples, 0) * 15) FROM telemetry_15m
       WHERE tenant_id = %(tenant)s AND bucket >= %(start)s AND bucket < %(end)s GROUP BY 1, 2""",
    # nominal hashrate of the miners counted
    "SELECT sum(nominal_hashrate_ths) FROM tenants_miner WHERE tenant_id = %(tenant)s",
    # the audit summary of the tenant's chain
    """SELECT action, count(*), min(seq), max(seq) FROM audit_auditevent
       WHERE chain_key = %(chain)s AND occurred_at >= %(start)s AND occurred_at < %(end)s GROUP BY 1""",
    # the per-site miner counts (the report list's sites)
    """SELECT s.code, s.name, count(*) FROM tenants_miner m JOIN tenants_site s ON s.id = m.site_id
       WHERE m.tenant_id = %(tenant)s GROUP BY 1, 2""",
]


def previous_hash_read(user, params, *, site_id, now):
    """hosting.reports.sla_sql.delivered_hash_minutes as it was before this bench's fix (commit
    938e86f): the sums, then an aggregate Max over the same rows, JIT left on."""
    from django.conf import settings
    from django.db.models import Max, Sum

    from hosting.reports import sla_sql

    start, end = params["start"], params["now"]
    tier = sla_sql.hashrate_tier(start, params["end"], now)
    out: dict = {}

    def add(qs, t):
        for m, t_id, h in (
            qs.values("miner_id", "tenant_id")
            .annotate(h=Sum(sla_sql._hash_minutes(t)))
            .values_list("miner_id", "tenant_id", "h")
        ):
            out[(m, t_id)] = out.get((m, t_id), 0.0) + float(h or 0.0)

    qs = sla_sql._tier_rows(user, tier, params, site_id, start, end)
    add(qs, tier)
    last = qs.aggregate(last=Max("bucket"))["last"]
    tail_from = last + dt.timedelta(minutes=15) if last else start
    if tail_from < end and tail_from >= now - dt.timedelta(days=settings.TELEMETRY_1M_RETENTION_DAYS):
        add(sla_sql._tier_rows(user, "1m", params, site_id, tail_from, end), "1m")
    return tier, out


def fill(miners: int, start: dt.datetime, end: dt.datetime):
    """Tenant A: `miners` miners over sites P and Q (Q shared with tenant B's 1,000), owned since 60
    days before the month; the month in the 15m tier; two downtime intervals per miner."""
    from django.db import connection
    from django.utils import timezone

    from audit.services import Actor, EventSpec, audit_record_many
    from telemetry.models import TelemetryLive
    from tenants.models import MinerOwnership

    now = timezone.now()
    sites, tenant_a, rows = fleet(miners)
    since = start - dt.timedelta(days=60)
    MinerOwnership.objects.bulk_create(
        [MinerOwnership(miner=m, tenant=m.tenant, valid_from=since) for m in rows], batch_size=2000
    )
    TelemetryLive.objects.bulk_create([live_row(m, i, now) for i, m in enumerate(rows)], batch_size=2000)
    receipts(sites, now)
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO telemetry_15m (site_id, tenant_id, miner_id, bucket, {AGGREGATES}) "
            f"SELECT m.site_id, m.tenant_id, m.id, b, {FULL_BUCKET} FROM tenants_miner m, "
            "generate_series(%s::timestamptz, %s::timestamptz - interval '15 minutes', interval '15 minutes') b "
            "WHERE m.tenant_id = %s",
            [start, end, tenant_a.pk],
        )
        # two intervals per miner, a day apart: an hour offline, 30 minutes at zero hashrate or in maintenance
        cur.execute(
            "INSERT INTO hosting_downtimeinterval (miner_id, tenant_id, site_id, started_at, ended_at, cause, "
            "evidence, created_at, updated_at) "
            "SELECT m.id, m.tenant_id, m.site_id, k.t, k.t + k.len, k.cause, '{}'::jsonb, now(), now() "
            "FROM tenants_miner m, LATERAL (VALUES "
            "  (%s::timestamptz + (m.id %% 20) * interval '1 day' + (m.id %% 24) * interval '1 hour', "
            "   'offline', interval '1 hour'), "
            "  (%s::timestamptz + (m.id %% 20 + 1) * interval '1 day', "
            "   CASE WHEN m.id %% 2 = 0 THEN 'zero_hashrate' ELSE 'maintenance' END, interval '30 minutes')"
            ") AS k(t, cause, len) WHERE m.tenant_id = %s",
            [start, start, tenant_a.pk],
        )
        cur.execute("VACUUM ANALYZE")
    audit_record_many(
        actor=Actor.system("bench"),
        events=[
            EventSpec(f"bench.event.kind{i % 7}", "tenants.tenant", str(tenant_a.pk), {"i": i}, tenant_a.pk)
            for i in range(300)
        ],
    )
    return tenant_a, customer_of(tenant_a)


def time_calls(client, path: str, requests: int, warm: int) -> tuple[list[float], dict]:
    for _ in range(warm):
        client.get(path)
    out = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        body = response.content
        out.append((time.perf_counter() - started) * 1000)
    assert response.status_code == 200, body[:300]
    return out, response.json()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--miners", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=10, help="uncached calls and bare-SQL runs (each ~seconds)")
    parser.add_argument("--cached", type=int, default=100, help="calls answered from the cache")
    args = parser.parse_args()

    with harness.scratch_database():
        from django.test import Client, override_settings
        from django.utils import timezone

        from hosting.reports import sla_sql
        from hosting.reports.sla import month_start, previous_month

        end = month_start(timezone.now())
        start = previous_month(end)
        started = time.perf_counter()
        tenant, customer = fill(args.miners, start, end)
        print(f"filled in {time.perf_counter() - started:.0f} s")
        params = {"tenant": tenant.pk, "start": start, "end": end, "chain": f"tenant:{tenant.pk}"}
        client = Client(HTTP_HOST="localhost")
        client.force_login(customer)
        path = "/api/v1/portal/my-reports"
        timings: dict[str, list[float]] = {"before": [], "uncached": [], "cached": [], "raw": []}
        n = max(1, args.requests // 2)
        for _ in range(2):  # interleaved rounds: drift on the machine hits all alike
            timings["raw"] += time_sql(RAW, params, n, warm=1)
            with override_settings(PORTAL_MY_REPORTS_CACHE_SEC=0):
                values, body = time_calls(client, path, n, warm=1)
                timings["uncached"] += values
                current, sla_sql.delivered_hash_minutes = sla_sql.delivered_hash_minutes, previous_hash_read
                try:
                    values, before_body = time_calls(client, path, n, warm=0)
                finally:
                    sla_sql.delivered_hash_minutes = current
                timings["before"] += values
            values, cached_body = time_calls(client, path, args.cached // 2, warm=1)  # the warm call fills it
            timings["cached"] += values
        assert body["total_assets"] == args.miners, body["total_assets"]
        assert cached_body["reports"][0]["summary"] == body["reports"][0]["summary"]
        assert before_body["reports"][0]["summary"] == body["reports"][0]["summary"]  # same figures
        summary = body["reports"][0]["summary"]
        r = harness.new_results(
            miners=args.miners,
            month=start.strftime("%Y-%m"),
            requests={k: len(v) for k, v in timings.items()},
            summary={k: summary[k] for k in ("miners", "availability_pct", "uptime_pct", "hashrate_tier")},
        )
        for key, values in timings.items():
            r[f"{key}_p50_ms"] = statistics.median(values)
            r[f"{key}_p95_ms"] = p95(values) if len(values) >= 2 else values[0]
        r["uncached_vs_raw_p50"] = r["uncached_p50_ms"] / r["raw_p50_ms"]
        r["before_vs_raw_p50"] = r["before_p50_ms"] / r["raw_p50_ms"]
        r["load_average"] = os.getloadavg()
        r["uncached_vs_cached_p50"] = r["uncached_p50_ms"] / r["cached_p50_ms"]
        print(
            f"portal my-reports bench on {os.cpu_count()} CPUs: a tenant of {args.miners:,} miners, the month "
            f"{r['month']} in the 15m tier (tier answered: {summary['hashrate_tier']})"
        )
        for key, label in (
            ("raw", "bare SQL, the same figures"),
            ("before", "built every call, before"),
            ("uncached", "my-reports, built every call"),
            ("cached", "my-reports, from the cache"),
        ):
            print(f"  {label:32s} p50 {r[f'{key}_p50_ms']:8.1f} ms   p95 {r[f'{key}_p95_ms']:8.1f} ms")
        print(
            f"  built / bare SQL at p50: before {r['before_vs_raw_p50']:.2f}×, now {r['uncached_vs_raw_p50']:.2f}×; "
            f"built / cached: {r['uncached_vs_cached_p50']:.0f}×; load average {r['load_average'][0]:.1f}"
        )
        harness.report_targets(
            r,
            [
                (
                    "my-reports p95 (cached)",
                    r["cached_p95_ms"],
                    TARGET_P95_MS,
                    f"≤ {TARGET_P95_MS:.0f} ms",
                    r["cached_p95_ms"] <= TARGET_P95_MS,
                )
            ],
        )
        harness.write_results("portal_reports", r)


if __name__ == "__main__":
    main()
