"""Telemetry rollup benchmark (SPEC §12): the 15-minute and daily rollups of `--sites` ×
`--miners` miners × 15 one-minute rows, as ratios against a hand-written INSERT … SELECT …
GROUP BY over the same rows, run on the same machine in the same run.

    .venv/bin/python bench/telemetry_rollup_bench.py [--miners 5000] [--sites 2] [--repeat 3]

Also timed: a re-run that finds nothing new (must write nothing) and a run that corrects 1 % of
the buckets after late data. Creates a scratch database (hi_bench_rollup on the server of
DATABASE_URL), migrates it, measures, drops it. Results are printed and written to
bench/results/telemetry_rollup_<timestamp>.json.
"""

import argparse
import datetime as dt
import os
import time

import _harness as harness
from _harness import timed

BENCH_DB = "hi_bench_rollup"
harness.use_scratch_database(BENCH_DB)

DAY = dt.date(2030, 6, 10)
START = dt.datetime.combine(DAY, dt.time(1), tzinfo=dt.UTC)  # the 01:00–01:15 bucket
AFTER_CLOSE = START + dt.timedelta(minutes=17)
NEXT_DAY = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(0, 5), tzinfo=dt.UTC)

COLUMNS = (
    "site_id, tenant_id, miner_id, {key}, samples, online_samples, hashrate_5s_sum, hashrate_5s_count, hashrate_5s_max, "
    "temperature_max_max, temperature_max_sum, temperature_max_count, frequency_sum, frequency_count, first_ts, last_ts, "
    "revision, corrected, updated_at"
)
# The floor: the same aggregates, grouped by hand, into an empty copy of the target.
RAW_15M = f"""
INSERT INTO bench_15m ({COLUMNS.format(key="bucket")}) SELECT site_id, tenant_id, miner_id, date_bin('15 minutes', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
    sum(samples), sum(online_samples), sum(hashrate_5s_sum), sum(hashrate_5s_count), max(hashrate_5s_max),
    max(temperature_max_max), sum(temperature_max_sum), sum(temperature_max_count), sum(frequency_sum),
    sum(frequency_count), min(first_ts), max(last_ts), 0, false, now()
FROM telemetry_1m WHERE bucket >= %(lo)s AND bucket < %(hi)s GROUP BY 1, 2, 3, 4
"""
RAW_DAILY = f"""
INSERT INTO bench_daily ({COLUMNS.format(key="day")}) SELECT site_id, tenant_id, miner_id, (bucket AT TIME ZONE 'UTC')::date,
    sum(samples), sum(online_samples), sum(hashrate_5s_sum), sum(hashrate_5s_count), max(hashrate_5s_max),
    max(temperature_max_max), sum(temperature_max_sum), sum(temperature_max_count), sum(frequency_sum),
    sum(frequency_count), min(first_ts), max(last_ts), 0, false, now()
FROM telemetry_1m WHERE bucket >= %(lo)s AND bucket < %(hi)s GROUP BY 1, 2, 3, 4
"""


def fill(sites: int, miners: int) -> None:
    from django.db import connection

    from telemetry.partitions import ensure_partition
    from tests.factories import SiteFactory, TenantFactory

    for day in (DAY, DAY + dt.timedelta(days=1)):
        ensure_partition("telemetry_1m", day)
    tenants = [TenantFactory(), TenantFactory()]
    with connection.cursor() as cur:
        for n in range(sites):
            site = SiteFactory()
            # Miner ids need no inventory rows (the tiers keep no foreign-key constraints).
            cur.execute(
                "INSERT INTO telemetry_1m (site_id, tenant_id, miner_id, bucket, samples, online_samples, hashrate_5s_sum, "
                "hashrate_5s_count, hashrate_5s_max, temperature_max_max, temperature_max_sum, temperature_max_count, "
                "frequency_sum, frequency_count, first_ts, last_ts, revision, corrected, updated_at) "
                "SELECT %(site)s, CASE WHEN m %% 2 = 0 THEN %(t0)s ELSE %(t1)s END, %(base)s + m, b, 6, 6, "
                "6 * (95 + random() * 10), 6, 110 * random(), 60 + random() * 20, 6 * (60 + random() * 20), 6, "
                "6 * 650.5, 6, b + interval '5 s', b + interval '55 s', 0, false, b + interval '70 s' "
                "FROM generate_series(1, %(miners)s) m, generate_series(0, 14) i, "
                "LATERAL (SELECT %(start)s + i * interval '1 minute' AS b) t",
                {
                    "site": site.pk,
                    "t0": tenants[0].pk,
                    "t1": tenants[1].pk,
                    "base": n * 1_000_000,
                    "miners": miners,
                    "start": START,
                },
            )
        cur.execute("ANALYZE telemetry_1m")
        cur.execute("CREATE TABLE bench_15m (LIKE telemetry_15m INCLUDING ALL)")
        cur.execute("CREATE TABLE bench_daily (LIKE telemetry_daily INCLUDING ALL)")


def reset(tier: str) -> None:
    from django.db import connection

    table = {"15m": "telemetry_15m", "daily": "telemetry_daily"}[tier]
    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE {table}, bench_15m, bench_daily")
        cur.execute("DELETE FROM telemetry_rollup_watermark WHERE tier = %s", [tier])
        cur.execute(f"VACUUM ANALYZE {table}")


def raw(sql: str, lo: dt.datetime, hi: dt.datetime) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql, {"lo": lo, "hi": hi})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--miners", type=int, default=5000, help="miners per site")
    parser.add_argument("--sites", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with harness.scratch_database():
        from django.db import connection

        from telemetry.rollups import (
            EPOCH,
            TIER_15M,
            _closing_sql,
            _site_ids,
            telemetry_rollup_15m,
            telemetry_rollup_daily,
        )

        fill(args.sites, args.miners)
        keys = args.sites * args.miners  # each miner has one owner in the bucket
        r = harness.new_results(sites=args.sites, miners_per_site=args.miners)
        r["source_rows"] = keys * 15

        service_15m, raw_15m, service_daily, raw_daily = [], [], [], []
        for _ in range(args.repeat):  # interleaved, so drift on the machine hits both alike
            reset("15m")
            raw_15m.append(timed(lambda: raw(RAW_15M, START, START + dt.timedelta(minutes=15))))
            service_15m.append(timed(lambda: telemetry_rollup_15m(now=AFTER_CLOSE)))
            reset("daily")
            raw_daily.append(timed(lambda: raw(RAW_DAILY, START.replace(hour=0), NEXT_DAY.replace(hour=0, minute=0))))
            service_daily.append(timed(lambda: telemetry_rollup_daily(now=NEXT_DAY)))
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM telemetry_15m")
            assert cur.fetchone()[0] == keys, "15m rows missing"
            cur.execute("SELECT count(*) FROM telemetry_daily")
            assert cur.fetchone()[0] == keys, "daily rows missing"
        r["rollup_15m_s"], r["raw_15m_s"] = min(service_15m), min(raw_15m)
        r["rollup_daily_s"], r["raw_daily_s"] = min(service_daily), min(raw_daily)
        r["rollup_15m_vs_raw"] = r["raw_15m_s"] / r["rollup_15m_s"]
        r["rollup_daily_vs_raw"] = r["raw_daily_s"] / r["rollup_daily_s"]

        # A run one minute later: the overlap re-reads the source, writes nothing.
        noop = []
        for i in range(args.repeat):
            result = None

            def run(i=i):
                nonlocal result
                result = telemetry_rollup_15m(now=AFTER_CLOSE + dt.timedelta(minutes=i + 1))

            noop.append(timed(run))
            assert result.rows_written == 0, "a re-run wrote rows"
        r["rerun_noop_s"] = min(noop)

        # Late data reaches 1 % of the closed buckets: recomputed, corrected, audited.
        late_at = AFTER_CLOSE + dt.timedelta(minutes=10)
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE telemetry_1m SET samples = samples + 1, updated_at = %s WHERE bucket = %s AND miner_id %% 100 = 7",
                [late_at, START + dt.timedelta(minutes=3)],
            )
            late_rows = cur.rowcount
        r["correction_rows"] = late_rows
        started = time.perf_counter()
        result = telemetry_rollup_15m(now=late_at + dt.timedelta(minutes=1))
        r["correction_s"] = time.perf_counter() - started
        assert len(result.corrected) == late_rows, "corrections missing"

        with connection.cursor() as cur:
            params = {"width": TIER_15M.width, "epoch": EPOCH, "now": AFTER_CLOSE, "revision": 0, "late": False}
            params |= {"sites": _site_ids(), "lo": START, "hi": START + dt.timedelta(minutes=15)}
            cur.execute("EXPLAIN " + _closing_sql(TIER_15M), params)  # not run: the plan of the closing pass
            r["rollup_15m_plan"] = [row[0] for row in cur.fetchall()]

        # The floor we hold: the rollup sums floats in bucket order (so a recomputation is
        # bit-identical and bumps no revision), upserts and returns its keys: about 2.5× the work.
        targets = [
            harness.at_least("15m rollup vs hand-written GROUP BY", r["rollup_15m_vs_raw"], 0.3, "≥ 0.3×"),
            harness.at_least("daily rollup vs hand-written GROUP BY", r["rollup_daily_vs_raw"], 0.3, "≥ 0.3×"),
        ]
        print(
            f"telemetry rollup bench on {os.cpu_count()} CPUs: {args.sites} sites × {args.miners:,} miners × 15 one-minute rows"
        )
        print(
            f"  15m:   rollup {r['rollup_15m_s'] * 1000:,.0f} ms, hand-written GROUP BY {r['raw_15m_s'] * 1000:,.0f} ms"
        )
        print(
            f"  daily: rollup {r['rollup_daily_s'] * 1000:,.0f} ms, hand-written GROUP BY {r['raw_daily_s'] * 1000:,.0f} ms"
        )
        print(
            f"  re-run with nothing new: {r['rerun_noop_s'] * 1000:,.0f} ms; correcting {late_rows:,} buckets: {r['correction_s'] * 1000:,.0f} ms"
        )
        harness.report_targets(r, targets)
        harness.write_results("telemetry_rollup", r)


if __name__ == "__main__":
    main()
