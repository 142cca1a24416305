"""Audit chain benchmark (SPEC §12): appends and verification, as ratios against raw SQL run on
the same machine in the same run.

    .venv/bin/python bench/audit_bench.py [--verify-events 200000]

Creates a scratch database (hi_bench on the server of DATABASE_URL), migrates it, measures,
drops it. Results are printed and written to bench/results/audit_<timestamp>.json.
"""

import argparse
import datetime as dt
import hashlib
import json
import os
import time

import _harness as harness
import psycopg2

BENCH_DB = "hi_bench"
harness.use_scratch_database(BENCH_DB)


def bench_batched_appends(events: int, batch: int) -> float:
    from audit.services import Actor, EventSpec, audit_record_many

    actor = Actor.system("bench.rules")
    specs = [
        EventSpec(
            "control.rule.hit", "control.rule", str(i), {"miner": i, "temp": 81.5, "rule": "overheat"}, tenant_id=1
        )
        for i in range(batch)
    ]
    started = time.perf_counter()
    for _ in range(events // batch):
        audit_record_many(actor=actor, events=specs)
    return events / (time.perf_counter() - started)


def bench_single_appends(events: int) -> float:
    from audit.services import Actor, audit_record

    actor = Actor.system("bench.single")
    started = time.perf_counter()
    for i in range(events):
        audit_record(
            actor=actor,
            action="control.command.approved",
            entity_type="control.command",
            entity_id=str(i),
            payload={"n": i},
            tenant_id=2,
        )
    return events / (time.perf_counter() - started)


def bench_raw_single_appends(events: int) -> float:
    """The floor: one transaction that locks the head row, INSERTs the event, UPDATEs the head."""
    conn = psycopg2.connect(os.environ["DATABASE_URL"])
    key = "tenant:3"
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO audit_auditchain (key, head_seq, head_hash) VALUES (%s, 0, %s) ON CONFLICT DO NOTHING",
            [key, "0" * 64],
        )
    started = time.perf_counter()
    for i in range(events):
        with conn, conn.cursor() as cur:
            cur.execute("SELECT head_seq, head_hash FROM audit_auditchain WHERE key = %s FOR UPDATE", [key])
            seq, prev = cur.fetchone()
            now = dt.datetime.now(dt.UTC)
            payload = json.dumps({"n": i})
            digest = hashlib.sha256((prev + payload).encode()).hexdigest()
            cur.execute(
                "INSERT INTO audit_auditevent (chain_key, seq, occurred_at, actor_type, actor_id, actor_label, action, entity_type, "
                "entity_id, tenant_id, site_code, payload, prev_hash, hash) VALUES (%s, %s, %s, 'system', 'raw', 'raw', "
                "'control.command.approved', 'control.command', %s, 3, NULL, %s::jsonb, %s, %s)",
                [key, seq + 1, now, str(i), payload, prev, digest],
            )
            cur.execute(
                "UPDATE audit_auditchain SET head_seq = %s, head_hash = %s, head_at = %s WHERE key = %s",
                [seq + 1, digest, now, key],
            )
    rate = events / (time.perf_counter() - started)
    conn.close()
    return rate


def bench_raw_fetch_and_hash(key: str) -> tuple[float, int]:
    """The floor for verification: stream the same rows, SHA-256 each one's text, no JSON work."""
    conn = psycopg2.connect(os.environ["DATABASE_URL"])
    from audit.verify import EVENTS_SQL

    started = time.perf_counter()
    n = 0
    with conn, conn.cursor(name="raw_verify") as cur:
        cur.itersize = 5000
        cur.execute(EVENTS_SQL, [key, 1, 2**62])
        sha256 = hashlib.sha256
        for row in cur:
            sha256((row[12] + "|".join(map(str, row[1:12]))).encode()).hexdigest()
            n += 1
    elapsed = time.perf_counter() - started
    conn.close()
    return n / elapsed, n


def fill_chain(key_tenant: int, events: int) -> None:
    from audit.services import Actor, EventSpec, audit_record_many

    actor = Actor("user", "17", "noc-operator")
    for start in range(0, events, 1000):
        audit_record_many(
            actor=actor,
            events=[
                EventSpec(
                    "control.command.dispatched",
                    "control.command",
                    str(i),
                    {"miner_id": i, "type": "reboot", "site": "SITE-X", "attempt": 1},
                    tenant_id=key_tenant,
                )
                for i in range(start, min(events, start + 1000))
            ],
        )


def bench_verify(key: str, workers: int) -> tuple[float, bool]:
    from audit.verify import verify_chains

    started = time.perf_counter()
    (result,) = verify_chains([key], workers=workers)
    return result.events / (time.perf_counter() - started), result.ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verify-events", type=int, default=200_000)
    parser.add_argument("--batched-events", type=int, default=20_000)
    parser.add_argument("--single-events", type=int, default=3_000)
    args = parser.parse_args()

    with harness.scratch_database():
        r = harness.new_results()

        bench_single_appends(200)  # warm up connection and code paths
        bench_raw_single_appends(200)
        r["batched_appends_per_s"] = bench_batched_appends(args.batched_events, 50)
        # Interleave the two single-append runs so drift on the machine hits both alike.
        singles, raws = [], []
        for _ in range(3):
            singles.append(bench_single_appends(args.single_events // 3))
            raws.append(bench_raw_single_appends(args.single_events // 3))
        r["single_appends_per_s"], r["raw_single_appends_per_s"] = max(singles), max(raws)
        r["single_vs_raw"] = r["single_appends_per_s"] / r["raw_single_appends_per_s"]

        fill_chain(9, args.verify_events)
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE audit_auditevent")
        key = "tenant:9"
        bench_raw_fetch_and_hash(key)  # warm the cache so every run reads from memory
        raw = max(bench_raw_fetch_and_hash(key)[0] for _ in range(2))
        r["verify_events"] = args.verify_events
        r["raw_fetch_hash_per_s"] = raw
        for workers in (1, 2):
            rates = [bench_verify(key, workers) for _ in range(2)]
            assert all(ok for _, ok in rates), "benchmark chain does not verify"
            r[f"verify_w{workers}_per_s"] = max(rate for rate, _ in rates)
            r[f"verify_w{workers}_vs_raw"] = r[f"verify_w{workers}_per_s"] / raw

        targets = [
            harness.at_least("batched appends (50/tx) per s", r["batched_appends_per_s"], 2000, "≥ 2,000/s"),
            harness.at_least("single-event tx vs raw SQL", r["single_vs_raw"], 0.8, "≥ 0.8×"),
            harness.at_least("verify workers=1 vs raw fetch+hash", r["verify_w1_vs_raw"], 0.8, "≥ 0.8×"),
            harness.at_least("verify workers=2 vs raw fetch+hash", r["verify_w2_vs_raw"], 0.8, "≥ 0.8×"),
            harness.at_least("verify workers=2 events per s", r["verify_w2_per_s"], 100_000, "≥ 100,000/s"),
        ]
        print(f"audit bench on {os.cpu_count()} CPUs, {args.verify_events:,} events verified")
        print(
            f"  single-event tx: audit_record {r['single_appends_per_s']:,.0f}/s, raw SQL {r['raw_single_appends_per_s']:,.0f}/s"
        )
        print(
            f"  verify: raw fetch+hash {raw:,.0f}/s, workers=1 {r['verify_w1_per_s']:,.0f}/s, workers=2 {r['verify_w2_per_s']:,.0f}/s"
        )
        harness.report_targets(r, targets)
        harness.write_results("audit", r)


if __name__ == "__main__":
    main()
