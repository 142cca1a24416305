"""The portal benches' tenant (bench/portal_bench.py, bench/portal_reports_bench.py): two sites P
and Q, tenant A's miners over their four zones and tenant B's 1,000 at the shared site Q, one
collector receipt per site, and the customer who reads the pages. Call inside a scratch database
(Django set up)."""

import datetime as dt

# The aggregate columns of the 1m/15m tiers, and the values of a fully sampled bucket `b` at 190 TH/s.
AGGREGATES = (
    "samples, online_samples, hashrate_5s_sum, hashrate_5s_count, hashrate_5s_max, temperature_max_max, "
    "temperature_max_sum, temperature_max_count, frequency_sum, frequency_count, first_ts, last_ts, revision, "
    "corrected, updated_at"
)
FULL_BUCKET = "90, 90, 90 * 190000.0, 90, 195000.0, 75, 90 * 70.0, 90, 0, 0, b, b, 0, false, now()"


def fleet(miners: int):
    """The two sites, tenant A (`miners` miners) and B (1,000 at Q): (sites, tenant_a, rows), rows
    being every Miner, A's first."""
    from tenants.models import Miner, Site, Tenant, Zone

    sites = [Site.objects.create(code=f"BENCH-{c}", name=f"Bench site {c}") for c in "PQ"]
    zones = [Zone.objects.create(site=s, code=f"Z{i}") for s in sites for i in range(2)]
    tenant_a = Tenant.objects.create(slug="bench-a", name="Bench A")
    tenant_b = Tenant.objects.create(slug="bench-b", name="Bench B")
    rows = Miner.objects.bulk_create(
        [
            Miner(
                site=zones[i % 4].site,
                zone=zones[i % 4],
                tenant=tenant_a,
                miner_id=f"S21_{i:05d}",
                model="S21" if i % 3 else "S19",
                nominal_hashrate_ths=200,
            )
            for i in range(miners)
        ]
        + [Miner(site=sites[1], tenant=tenant_b, miner_id=f"B_{i:05d}", model="S21") for i in range(1000)],
        batch_size=2000,
    )
    return sites, tenant_a, rows


def live_row(miner, i: int, now: dt.datetime, *, age_sec: int = 15):
    from telemetry.models import TelemetryLive

    return TelemetryLive(
        miner=miner,
        site_id=miner.site_id,
        tenant=miner.tenant,
        ts=now - dt.timedelta(seconds=age_sec),
        received_at=now,
        online=True,
        hashrate_5s_ghs=190_000.0 + i,
        temperature_max=60.0 + i % 30,
    )


def receipts(sites, now: dt.datetime) -> None:
    """One upload receipt per site from its collector: the sites report (a miner without a live row is offline)."""
    from telemetry.models import IngestBatch
    from tenants.models import Collector

    for s in sites:
        IngestBatch.objects.create(
            site=s,
            collector=Collector.objects.create(site=s, name=f"edge-{s.code}"),
            token_prefix="bench",
            endpoint="v1",
            body_format="envelope",
            received_at=now,
            body_sha256="0" * 64,
            body_bytes=1,
            record_count=1,
            accepted=1,
            rejected=0,
            duplicates=0,
        )


def customer_of(tenant):
    from django.contrib.auth import get_user_model

    from tenants.models import Role, RoleGrant

    user = get_user_model().objects.create(username="bench-customer")
    RoleGrant.objects.create(user=user, role=Role.CUSTOMER, tenant=tenant)
    return user


def time_sql(statements: list[str], params: dict, requests: int, *, warm: int, refresh=None) -> list[float]:
    """Milliseconds of each run of `statements` (the bare SQL beside a page), after `warm` untimed
    runs, on one autocommit connection; `refresh(params)` before each run (e.g. a moving cutoff)."""
    import os
    import time

    import psycopg2

    conn = psycopg2.connect(os.environ["DATABASE_URL"])
    conn.autocommit = True
    out = []
    for i in range(requests + warm):
        started = time.perf_counter()
        with conn.cursor() as cur:
            if refresh:
                refresh(params)
            for sql in statements:
                cur.execute(sql, params)
                cur.fetchall()
        if i >= warm:
            out.append((time.perf_counter() - started) * 1000)
    conn.close()
    return out
