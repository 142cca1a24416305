"""The NOC's live command board (admin, its JSON refresh) for a site with 5,000 miners and 50,000
commands of history (issue: command channel, "the admin board answers in ≤ 300 ms p95"), beside
the bare SQL of the same reads in the same run.

    .venv/bin/python bench/command_board_bench.py [--miners 5000] [--commands 50000] [--requests 60]

Creates a scratch database (hi_bench_board), fills one site (and a second one, so scoping has
something to leave out): history mostly succeeded, 2 % failed in the last hour, a live queue of
proposed / queued / dispatched (some with lapsed leases) commands and unknown ACKs; then times
GET /admin/control/command/board/?format=json as a site NOC through the Django test client (the
whole view: session, scoping, the selector, JSON) and the statements it ran, replayed bare.
"""

import argparse
import datetime as dt
import os
import time

import _harness as harness
from _harness import p95

BENCH_DB = "hi_bench_board"
TARGET_MS = 300.0
harness.use_scratch_database(BENCH_DB)


def fill(miners: int, commands: int):
    from django.db import connection
    from django.utils import timezone

    from audit.services import Actor
    from control.models import Command, CommandAck, CommandState
    from control.tests.factories import ControlCommandFactory
    from tenants.models import Miner, Role
    from tenants.services import role_grant_create
    from tests.factories import CollectorFactory, SiteFactory, TenantFactory, UserFactory

    now = timezone.now()
    site, other = SiteFactory(code="BOARD"), SiteFactory(code="OTHER")
    owners = [TenantFactory() for _ in range(3)]
    Miner.objects.bulk_create(
        [Miner(site=site, tenant=owners[n % 3], miner_id=f"B_{n:05d}", model="S21") for n in range(miners)]
        + [Miner(site=other, tenant=owners[0], miner_id=f"O_{n:03d}", model="S21") for n in range(50)],
        batch_size=5000,
    )
    codes = ["EDGE_NOT_FOUND", "EDGE_EXECUTION_FAILED", "VERIFICATION_FAILED"]
    board = list(Miner.objects.filter(site=site).order_by("pk"))
    history = []
    for n in range(commands):
        m, failed = board[n % len(board)], n % 50 == 0
        at = now - dt.timedelta(minutes=n % 60 if failed else n)
        history.append(
            Command(
                tenant_id=m.tenant_id, site=site, miner=m, command_type="set_fan", params={"speed": 80},
                state=CommandState.FAILED if failed else CommandState.SUCCEEDED, reason="bench", created_at=at,
                updated_at=at, ttl_sec=600, expires_at=at + dt.timedelta(minutes=10), created_by_system="bench",
                error_code=codes[n % 3] if failed else "", finished_at=at, lease_epoch=1,
            )
        )  # fmt: skip
    Command.objects.bulk_create(history, batch_size=5000)
    live = list(Miner.objects.filter(site=site).order_by("pk")[:600])
    for i, m in enumerate(live):
        state = [CommandState.PROPOSED, CommandState.QUEUED, CommandState.DISPATCHED][i % 3]
        lapsed = now - dt.timedelta(minutes=2) if i % 30 == 2 else now + dt.timedelta(minutes=1)
        ControlCommandFactory(miner=m, state=state, lease_until=lapsed if state == CommandState.DISPATCHED else None)
    collector = CollectorFactory(site=site)
    CommandAck.objects.bulk_create(
        [
            CommandAck(collector=collector, wire_id=f"x{n}", endpoint="v1", received_at=now, payload={},
                       disposition=CommandAck.Disposition.UNKNOWN)
            for n in range(50)
        ]
    )  # fmt: skip
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    noc = UserFactory(username="noc-board")
    role_grant_create(actor=Actor.system("bench"), user=noc, role=Role.NOC, site=site)
    return noc


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--miners", type=int, default=5000)
    parser.add_argument("--commands", type=int, default=50000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    with harness.scratch_database():
        from django.conf import settings
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        settings.ALLOWED_HOSTS = ["*"]
        noc = fill(args.miners, args.commands)
        client = Client()
        client.force_login(noc)
        url = "/admin/control/command/board/?format=json"
        assert client.get(url).status_code == 200
        with CaptureQueriesContext(connection) as q:
            client.get(url)
        statements = [x["sql"] for x in q.captured_queries]
        times, bare = [], []
        for _ in range(args.requests):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
            started = time.perf_counter()
            with connection.cursor() as cur:
                for sql in statements:
                    cur.execute(sql)
            bare.append((time.perf_counter() - started) * 1000)
        r = harness.new_results(miners=args.miners, commands=args.commands, requests=args.requests)
        r |= {"p95_ms": p95(times), "bare_p95_ms": p95(bare), "queries": len(statements)}
        print(
            f"command board bench on {os.cpu_count()} CPUs: {args.miners:,} miners, {args.commands:,} commands of history"
        )
        print(
            f"  board JSON p95 {r['p95_ms']:.0f} ms ({len(statements)} queries; bare SQL p95 {r['bare_p95_ms']:.0f} ms)"
        )
        harness.report_targets(r, [("board p95", r["p95_ms"], TARGET_MS, "≤ 300 ms", r["p95_ms"] <= TARGET_MS)])
        harness.write_results("command_board", r)


if __name__ == "__main__":
    main()
