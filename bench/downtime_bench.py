"""Downtime-interval maintenance pass over a 5,000-miner site (issue 13: ≤ 2 s), beside the bare
SQL of the same classification in the same run.

    .venv/bin/python bench/downtime_bench.py [--miners 5000] [--minutes 5] [--catchup 60] [--repeat 3]

Creates a scratch database (hi_bench_downtime on the server of DATABASE_URL), migrates it, fills
one site with `--miners` miners (three owners), a sample per miner per minute in the 1m tier
(2 % offline, 1 % online at zero hashrate, one 10-minute collector gap), an upload receipt a
minute, a maintenance window over one rack and a reboot command with its attempt. Then, each
run from the same state (intervals and watermark reset):

- the beat's pass (hosting.services.downtime.downtime_pass) of a site `--minutes` behind: the
  row lock, the window, the classification, the merge and the writes — the issue's target;
- the same pass `--catchup` minutes behind (a worker that was down): informational;
- the bare SQL: hosting.services.downtime_sql.RUNS_SQL alone over the same window, through
  psycopg2 (the floor: what no Python around it can beat).

Medians of `--repeat` interleaved runs. Drops the database at the end; results printed and written
to bench/results/downtime_<timestamp>.json (docs/DOWNTIME.md keeps the latest numbers).
"""

import argparse
import datetime as dt
import os
import statistics

import _harness as harness
import psycopg2
from _harness import timed

BENCH_DB = "hi_bench_downtime"
TARGET_S = 2.0
harness.use_scratch_database(BENCH_DB)

NOW = dt.datetime(2030, 6, 10, 12, 0, tzinfo=dt.UTC)
HISTORY = dt.timedelta(hours=2)

SAMPLES = """
INSERT INTO telemetry_1m (site_id, tenant_id, miner_id, bucket, samples, online_samples, hashrate_5s_sum,
    hashrate_5s_count, hashrate_5s_max, temperature_max_max, temperature_max_sum, temperature_max_count,
    frequency_sum, frequency_count, first_ts, last_ts, revision, corrected, updated_at)
SELECT m.site_id, m.tenant_id, m.id, t, 6, v.on6, v.ghs * v.on6, v.on6, v.ghs, 70, 70 * v.on6, v.on6, 0, 0,
       t, t + interval '50 s', 0, false, t + interval '70 s'
FROM tenants_miner m
CROSS JOIN generate_series(%(a)s::timestamptz, %(b)s::timestamptz - interval '1 minute', interval '1 minute') t
CROSS JOIN LATERAL (SELECT CASE WHEN m.id %% 50 = 0 THEN 0 ELSE 6 END AS on6,
                           CASE WHEN m.id %% 100 = 1 THEN 0.0 ELSE 199000.0 END AS ghs) v
WHERE m.site_id = %(site)s AND NOT (t >= %(gap_a)s AND t < %(gap_b)s)
"""
RECEIPTS = """
INSERT INTO telemetry_ingestbatch (site_id, collector_id, token_prefix, device_id, endpoint, mode, body_format,
    received_at, body_sha256, body_bytes, record_count, accepted, rejected, duplicates, unknown_registered,
    first_reasons, sample_from, sample_to, duration_ms)
SELECT %(site)s, %(collector)s, 'bench', '', 'v1', 'raw', 'envelope', t + interval '40 s', md5(t::text) || md5(t::text),
       1, 1, 1, 0, 0, 0, '[]'::jsonb, t, t + interval '30 s', 1
FROM generate_series(%(a)s::timestamptz, %(b)s::timestamptz, interval '1 minute') t
WHERE NOT (t >= %(gap_a)s AND t < %(gap_b)s)
"""


def fill(miners: int):
    from django.contrib.auth import get_user_model
    from django.db import connection

    from control.models import Command, CommandAttempt, CommandState, CommandType
    from hosting.models import MaintenanceWindow
    from telemetry.partitions import ensure_partition
    from tenants.models import Miner, MinerOwnership
    from tests.factories import CollectorFactory, SiteFactory, TenantFactory, ZoneFactory

    ensure_partition("telemetry_1m", NOW.date())
    site = SiteFactory(code="BENCH")
    zone = ZoneFactory(site=site, code="R1")
    collector = CollectorFactory(site=site)
    owners = [TenantFactory() for _ in range(3)]
    Miner.objects.bulk_create(
        [
            Miner(
                site=site, tenant=owners[n // 10 % 3], zone=zone if n < 20 else None, miner_id=f"S21_{n:05d}",
                model="S21", nominal_hashrate_ths=200,
            )
            for n in range(miners)
        ],
        batch_size=2000,
    )  # fmt: skip
    rows = list(Miner.objects.filter(site=site).order_by("miner_id"))
    MinerOwnership.objects.bulk_create(
        [MinerOwnership(miner=m, tenant_id=m.tenant_id, valid_from=NOW - dt.timedelta(days=1)) for m in rows],
        batch_size=2000,
    )
    start = NOW - HISTORY
    gap = (NOW - dt.timedelta(minutes=40), NOW - dt.timedelta(minutes=30))
    params = {"site": site.pk, "collector": collector.pk, "a": start, "b": NOW, "gap_a": gap[0], "gap_b": gap[1]}
    with connection.cursor() as cur:
        cur.execute(SAMPLES, params)
        cur.execute(RECEIPTS, params)
        cur.execute("ANALYZE")
    owner = get_user_model().objects.create(username="bench-ops")
    MaintenanceWindow.objects.create(
        site=site, zone=zone, owner=owner, reason="bench", starts_at=NOW - dt.timedelta(minutes=50),
        ends_at=NOW - dt.timedelta(minutes=20),
    )  # fmt: skip
    target, at = rows[-7], NOW - dt.timedelta(minutes=15)
    command = Command.objects.create(
        tenant_id=target.tenant_id, site=site, miner=target, command_type=CommandType.REBOOT,
        state=CommandState.SUCCEEDED, created_at=at, updated_at=at, ttl_sec=600, expires_at=at + dt.timedelta(minutes=10),
        finished_at=at + dt.timedelta(minutes=4),
    )  # fmt: skip
    CommandAttempt.objects.create(
        command=command, attempt=1, wire_id=str(command.pk), lease_epoch=1, collector=collector, leased_at=at,
        lease_until=at + dt.timedelta(minutes=2),
    )  # fmt: skip
    return site


def reset(site, behind: int) -> None:
    from django.conf import settings

    from hosting.models import DowntimeInterval, DowntimeWatermark

    DowntimeInterval.objects.filter(site=site).delete()
    last = NOW - dt.timedelta(seconds=settings.DOWNTIME_GRACE_SEC)
    last = last.replace(second=0, microsecond=0)
    DowntimeWatermark.objects.update_or_create(
        site=site, defaults={"processed_until": last - dt.timedelta(minutes=behind)}
    )
    # The previous pass ran at NOW: no receipt since then carries older samples (no spool replay
    # to rewind for), as in the steady state. (auto_now would stamp the wall clock.)
    DowntimeWatermark.objects.filter(site=site).update(updated_at=NOW)


def bare_params(site, behind: int) -> dict:
    from django.conf import settings

    last = (NOW - dt.timedelta(seconds=settings.DOWNTIME_GRACE_SEC)).replace(second=0, microsecond=0)
    a = last - dt.timedelta(minutes=behind)
    return {
        "site": site.pk, "a": a, "b": last, "look": a - dt.timedelta(seconds=settings.TELEMETRY_STALE_SEC),
        "stale": settings.TELEMETRY_STALE_SEC, "zero_pct": settings.DOWNTIME_ZERO_HASHRATE_PCT, "maint": "[]",
    }  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--miners", type=int, default=5000)
    parser.add_argument("--minutes", type=int, default=5, help="how far behind the beat's pass is (default 5)")
    parser.add_argument("--catchup", type=int, default=60, help="minutes behind for the catch-up pass (default 60)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with harness.scratch_database():
        from django.db import connection

        from hosting.models import DowntimeInterval
        from hosting.services.downtime import _occurrences_json, downtime_pass
        from hosting.services.downtime_sql import RUNS_SQL

        site = fill(args.miners)
        dsn = connection.get_connection_params()
        bare_conn = psycopg2.connect(
            **{k: v for k, v in dsn.items() if k in ("dbname", "user", "host", "port", "password")}
        )

        def bare(behind):
            params = bare_params(site, behind)
            params["maint"] = _occurrences_json(site, params["a"], params["b"])
            with bare_conn.cursor() as cur:
                cur.execute("SET jit = off")  # as the pass does
                cur.execute(RUNS_SQL, params)
                return len(cur.fetchall())

        r = harness.new_results(miners=args.miners, steady_minutes=args.minutes, catchup_minutes=args.catchup)
        times = {"pass": [], "bare": [], "catchup": [], "catchup_bare": []}
        for _ in range(args.repeat):  # interleaved, so drift on the machine hits both alike
            reset(site, args.minutes)
            times["pass"].append(timed(lambda: downtime_pass(site=site, now=NOW)))
            r["steady_intervals"] = DowntimeInterval.objects.filter(site=site).count()
            times["bare"].append(timed(lambda: bare(args.minutes)))
            reset(site, args.catchup)
            times["catchup"].append(timed(lambda: downtime_pass(site=site, now=NOW)))
            r["catchup_intervals"] = DowntimeInterval.objects.filter(site=site).count()
            times["catchup_bare"].append(timed(lambda: bare(args.catchup)))
        bare_conn.close()
        for key, values in times.items():
            r[f"{key}_runs_s"] = values
            r[f"{key}_median_s"] = statistics.median(values)
        assert r["catchup_intervals"] > 0, "the catch-up pass found no downtime"
        print(f"downtime bench on {os.cpu_count()} CPUs: one site, {args.miners:,} miners, {args.repeat} runs (median)")
        print(
            f"  pass {args.minutes} min behind: {r['pass_median_s'] * 1000:,.0f} ms "
            f"(bare SQL {r['bare_median_s'] * 1000:,.0f} ms), {r['steady_intervals']:,} intervals"
        )
        print(
            f"  pass {args.catchup} min behind: {r['catchup_median_s'] * 1000:,.0f} ms "
            f"(bare SQL {r['catchup_bare_median_s'] * 1000:,.0f} ms), {r['catchup_intervals']:,} intervals"
        )
        met = r["pass_median_s"] <= TARGET_S
        harness.report_targets(r, [("downtime pass, 5,000-miner site", r["pass_median_s"], TARGET_S, "≤ 2 s", met)])
        harness.write_results("downtime", r)


if __name__ == "__main__":
    main()
