"""A rule backtest over one day of the 1-minute tier (issue 14): how long one takes.

    .venv/bin/python bench/rules_backtest_bench.py [--miners 500] [--repeat 3]

Creates a scratch database (hi_bench_backtest on the server of DATABASE_URL), migrates it, fills
one site with `--miners` miners and one 1-minute row per miner per minute for a day (one sample a
minute). One miner in ten runs hot (92 °C) from 02:00 to 03:00 and 14:00 to 16:00, the others sit
at 60–66 °C. Two saved rules are backtested over the day (rules.services.backtest.rule_backtest):
`typical` (temp_max > 85: the hot tenth is read and replayed, the rest filtered out in SQL) and
`worst` (temp_max > 59: every miner breaches every minute, all are read and replayed, a trigger
every cooldown). Medians of `--repeat` runs; results printed and written to
bench/results/rules_backtest_<timestamp>.json. Drops the database at the end.
"""

import argparse
import datetime as dt
import os
import statistics

import _harness as harness
from _harness import timed

BENCH_DB = "hi_bench_backtest"
harness.use_scratch_database(BENCH_DB)

DAY = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)  # in the past: a backtest reads stored data
ROWS = """
INSERT INTO telemetry_1m (site_id, tenant_id, miner_id, bucket, samples, online_samples, hashrate_5s_sum,
    hashrate_5s_count, hashrate_5s_max, temperature_max_max, temperature_max_sum, temperature_max_count,
    frequency_sum, frequency_count, first_ts, last_ts, revision, corrected, updated_at)
SELECT m.site_id, m.tenant_id, m.id, t, 1, 1, 199000.0, 1, 199000.0, v.temp, v.temp, 1, 490.0, 1,
       t + interval '5 s', t + interval '5 s', 0, false, t + interval '70 s'
FROM tenants_miner m
CROSS JOIN generate_series(%(a)s::timestamptz, %(b)s::timestamptz - interval '1 minute', interval '1 minute') t
CROSS JOIN LATERAL (
    SELECT CASE WHEN m.id %% 10 = 0 AND (extract(hour FROM t AT TIME ZONE 'UTC') IN (2, 14, 15)) THEN 92.0
                ELSE 60.0 + m.id %% 7 END AS temp) v
WHERE m.site_id = %(site)s
"""


def fill(miners: int):
    from django.db import connection

    from audit.services import Actor
    from rules.services.definitions import rule_create
    from telemetry.partitions import ensure_partition
    from tenants.models import Miner
    from tests.factories import SiteFactory, TenantFactory

    ensure_partition("telemetry_1m", DAY.date())
    site = SiteFactory(code="BENCH")
    owner = TenantFactory()
    Miner.objects.bulk_create(
        [
            Miner(site=site, tenant=owner, miner_id=f"S21_{n:05d}", model="S21", nominal_hashrate_ths=200)
            for n in range(miners)
        ],
        batch_size=2000,
    )
    with connection.cursor() as cur:
        cur.execute(ROWS, {"site": site.pk, "a": DAY, "b": DAY + dt.timedelta(days=1)})
        cur.execute("ANALYZE")
    actor = Actor.system("bench")
    common = {"metric": "temp_max", "op": "gt", "consecutive_samples": 3, "cooldown_sec": 900, "daily_cap": 6}
    typical = rule_create(actor=actor, user=None, site=site, name="typical", threshold=85, clear_threshold=75, **common)
    worst = rule_create(actor=actor, user=None, site=site, name="worst", threshold=59, clear_threshold=50, **common)
    return {"typical": typical, "worst": worst}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--miners", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with harness.scratch_database():
        from rules.services.backtest import rule_backtest

        rules = fill(args.miners)
        r = harness.new_results(miners=args.miners, minutes=1440)
        reports = {}
        for name, rule in rules.items():
            times = []
            for _ in range(args.repeat):
                times.append(
                    timed(
                        lambda rule=rule, name=name: reports.__setitem__(
                            name, rule_backtest(rule_or_definition=rule, start=DAY, end=DAY + dt.timedelta(days=1))
                        )
                    )
                )
            report = reports[name]
            r[f"{name}_runs_s"] = times
            r[f"{name}_median_s"] = statistics.median(times)
            r[f"{name}_minutes_read"] = report.minutes_read
            r[f"{name}_miners_hit"] = len(report.miners)
            r[f"{name}_hits"] = report.totals
        print(f"backtest bench on {os.cpu_count()} CPUs: one site, {args.miners:,} miners × 1 day of 1m rows")
        for name in rules:
            print(
                f"  {name}: {r[f'{name}_median_s'] * 1000:,.0f} ms (median of {args.repeat}), "
                f"{r[f'{name}_minutes_read']:,} minutes read, {r[f'{name}_miners_hit']:,} miners hit, "
                f"{r[f'{name}_hits']}"
            )
        harness.write_results("rules_backtest", r)


if __name__ == "__main__":
    main()
