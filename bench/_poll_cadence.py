"""The command poll bench's cadence and fleet modes (bench/command_poll_bench.py), apart from its
burst mode. Not a bench itself (`make bench` skips bench/_*.py).

Both modes run collectors on their own clocks, COLLECTOR_PROTOCOL §3: a poll every
command_poll_interval_sec (5 s) from a random phase, each command it got ACKed one by one right
after the poll. Meanwhile the parent keeps commands flowing through the product's services: a
batch created every second (queued at once) and single commands that need approval, approved by
a person a second later (proposed → approved → queued).

- cadence: 10 collectors of one site, one process each. Every collector alternates its ticks
  between the product path (command_poll_lease + command_ack) and the bare SQL lease and ACK
  statements, so both sit on the same clock, the same table and the same load.
- fleet: N collectors (10 per site), served by a few processes as gunicorn workers would serve
  them; product path only. Checked from the database afterwards: every attempt row against the
  collectors' own record of what they got (double dispatch), and each command's wait from ready
  (created, or approved) to its first lease (queue lag).
"""

import os
import random
import statistics
import time

import psycopg2

POLL_INTERVAL_SEC = 5  # command_poll_interval_sec, the collector's default
PER_POLL = 100
ACK = {"status": "completed", "result_code": 0, "result_message": "ok"}

# The floor: the same rows leased by one statement, no audit, no attempt rows, no wire objects.
RAW_LEASE = """
UPDATE control_command AS c SET state = 'dispatched', lease_epoch = c.lease_epoch + 1, lease_collector_id = %(collector)s,
       lease_device_id = %(device)s, lease_until = now() + interval '60 seconds', updated_at = now()
FROM (SELECT id FROM control_command WHERE site_id = %(site)s AND state = 'queued' AND expires_at > now()
        AND (not_before IS NULL OR not_before <= now())
      ORDER BY priority_class DESC, priority DESC, created_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) AS r
WHERE c.id = r.id
RETURNING c.id, c.miner_id, c.command_type, c.params, c.lease_epoch, c.expires_at
"""
# The floor plus what the SPEC asks of any lease beside the UPDATE (§6.2: every attempt kept): the
# same UPDATE and each command's attempt row, written as the product writes it, in the same
# statement. No audit, no wire objects, none of the product's per-miner and affinity rules.
RAW_LEASE_ATTEMPTS = (
    "WITH leased AS ("
    + RAW_LEASE.replace("RETURNING c.id,", "RETURNING c.attempt, c.id,")
    + """), attempt AS (
INSERT INTO control_commandattempt (command_id, attempt, wire_id, lease_epoch, collector_id, device_id, leased_at,
    lease_until, lease_ended_at, lease_end_reason, ack_status, error_class, result_message)
SELECT id, attempt, CASE WHEN attempt = 1 THEN id::text ELSE id::text || '.' || attempt::text END, lease_epoch,
    %(collector)s, %(device)s, now(), now() + interval '60 seconds', NULL, '', '', '', ''
FROM leased
ON CONFLICT (command_id, attempt) DO UPDATE SET lease_epoch = EXCLUDED.lease_epoch, collector_id = EXCLUDED.collector_id,
    device_id = EXCLUDED.device_id, leased_at = EXCLUDED.leased_at, lease_until = EXCLUDED.lease_until,
    lease_ended_at = NULL, lease_end_reason = ''
)
SELECT id, miner_id, command_type, params, lease_epoch, expires_at FROM leased
"""
)
# Its ACK: the one row ends, nothing else (no attempt row, no audit, no verification).
RAW_ACK = """
UPDATE control_command SET state = 'succeeded', outcome = 'succeeded', finished_at = now(), updated_at = now()
WHERE id = %s AND state = 'dispatched' AND lease_epoch = %s
"""


def collectors_process(collectors: list[tuple[int, int, int]], conn, *, alternate: bool) -> None:
    """Forked with no open connection. `collectors` are (index, token pk, site pk); this process
    serves all of them, one request at a time, as one gunicorn worker would. With `alternate`,
    every other tick of each collector goes through the bare SQL statements instead."""
    from django.db import connection

    from control.services.ack import command_ack
    from control.services.poll import command_poll_lease
    from tenants.collector_auth import CollectorPrincipal
    from tenants.models import CollectorToken

    request = conn.recv()
    interval, deadline = request
    raw = psycopg2.connect(os.environ["DATABASE_URL"])
    clocks = []
    for i, token_pk, site_pk in collectors:
        token = CollectorToken.objects.select_related("collector__site", "collector__zone").get(pk=token_pk)
        principal = CollectorPrincipal(token=token, device_id=f"dev-{i}")
        params = {"collector": token.collector_id, "device": f"dev-{i}", "site": site_pk, "limit": PER_POLL}
        rng = random.Random(i)
        clocks.append([time.monotonic() + rng.uniform(0, interval), 0, principal, params])
    out = {"poll": [], "ack": [], "raw_poll": [], "raw_ack": [], "late": [], "got": []}
    while True:
        clock = min(clocks, key=lambda c: c[0])
        due, tick, principal, params = clock
        if due >= deadline:
            break
        time.sleep(max(0.0, due - time.monotonic()))
        out["late"].append(max(0.0, time.monotonic() - due))
        if alternate and tick % 2:
            started = time.perf_counter()
            with raw, raw.cursor() as cur:
                cur.execute(RAW_LEASE, params)
                rows = cur.fetchall()
            out["raw_poll"].append(time.perf_counter() - started)
            for row in rows:
                started = time.perf_counter()
                with raw, raw.cursor() as cur:
                    cur.execute(RAW_ACK, (row[0], row[4]))
                out["raw_ack"].append(time.perf_counter() - started)
        else:
            started = time.perf_counter()
            wires = command_poll_lease(principal=principal, limit=PER_POLL)
            out["poll"].append(time.perf_counter() - started)
            out["got"] += [w["command_id"] for w in wires]
            for wire in wires:
                started = time.perf_counter()
                command_ack(principal=principal, wire_id=wire["command_id"], payload=ACK, endpoint="v1")
                out["ack"].append(time.perf_counter() - started)
        # The next poll an interval after this one started, or right away when it overran.
        clock[0], clock[1] = max(due + interval, time.monotonic()), tick + 1
    conn.send(out)
    raw.close()
    connection.close()


def start(groups: list[list[tuple[int, int, int]]], *, alternate: bool):
    import multiprocessing

    from django.db import connections

    connections.close_all()  # a forked child must never share the parent's socket
    ctx = multiprocessing.get_context("fork")
    workers = []
    for group in groups:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=collectors_process, args=(group, child), kwargs={"alternate": alternate}, daemon=True)
        proc.start()
        workers.append((proc, parent))
    return workers


class Producer:
    """Commands flowing through the product's services, as the NOC and the rule engine make them:
    every tick a batch per site (queued at once) and a few that need approval, which a person
    approves on the next tick. Miners are taken in turn, so none has an active command when its
    turn comes again (a turn is thousands of commands long)."""

    def __init__(self, sites: list, miners_by_site: dict, *, per_tick: int, approvals: int):
        from django.contrib.auth import get_user_model

        from audit.services import Actor
        from tenants.models import Role
        from tenants.services import role_grant_create

        self.sites, self.miners, self.per_tick, self.approvals = sites, miners_by_site, per_tick, approvals
        self.cursor = {site.pk: 0 for site in sites}
        self.approver = get_user_model().objects.create_user(username="bench-approver", password=None)
        role_grant_create(actor=Actor.system("bench"), user=self.approver, role=Role.OPS_MANAGER, all_sites=True)
        self.actor = Actor.user(self.approver)
        self.pending: list = []
        self.created = self.approved = 0
        self.vacuum = not autovacuum_on()  # then the producer vacuums the hot tables every 30 s

    def _next(self, site, n: int) -> list:
        miners, at = self.miners[site.pk], self.cursor[site.pk]
        self.cursor[site.pk] = (at + n) % len(miners)
        return [miners[(at + k) % len(miners)] for k in range(n)]

    def tick(self) -> None:
        from audit.services import Actor
        from control.services.creation import command_batch_create, command_create
        from control.services.decisions import command_approve

        system = Actor.system("bench.producer")
        for command in self.pending:  # last tick's proposals: a person approves them
            command_approve(actor=self.actor, user=self.approver, command=command, reason="bench: checked")
            self.approved += 1
        self.pending = []
        for site in self.sites:
            result = command_batch_create(
                actor=system,
                user=None,
                miners=self._next(site, self.per_tick),
                command_type="set_fan",
                params={"speed": 80},
                reason="bench batch",
                created_by_system="bench",
            )
            self.created += len(result.created)
            for miner in self._next(site, self.approvals):
                self.pending.append(
                    command_create(
                        actor=system,
                        user=None,
                        miner=miner,
                        command_type="set_fan",
                        params={"speed": 70},
                        reason="bench approval",
                        created_by_system="bench",
                        approval_required=True,
                    )
                )
                self.created += 1

    def run_until(self, deadline: float, every: float = 1.0) -> None:
        due = vacuum_due = time.monotonic()
        while due < deadline:
            time.sleep(max(0.0, due - time.monotonic()))
            self.tick()
            if self.vacuum and time.monotonic() >= vacuum_due:
                vacuum_hot_tables()
                vacuum_due = time.monotonic() + VACUUM_EVERY_SEC
            due = max(due + every, time.monotonic())


VACUUM_EVERY_SEC = 30


def autovacuum_on() -> bool:
    with psycopg2.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_setting('autovacuum') = 'on'")
        on = cur.fetchone()[0]
    conn.close()
    return on


def vacuum_hot_tables() -> None:
    """What autovacuum would do on the hot tables, for a server that has it off (a shared dev
    server): without it every poll leases through the dead rows of the whole run."""
    conn = psycopg2.connect(os.environ["DATABASE_URL"])
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("VACUUM (ANALYZE) control_command, control_commandattempt, audit_auditchain")
    finally:
        conn.close()


def collect(workers) -> dict:
    merged: dict[str, list] = {}
    for _, pipe in workers:
        for key, values in pipe.recv().items():
            merged.setdefault(key, []).extend(values)
    for proc, _ in workers:
        proc.join(timeout=30)
    return merged


def attempts_check(since, until) -> dict:
    """What the attempts table says about the commands created in [since, until]: handed out more
    than once, leases of one command that overlap, and each command's wait from ready to lease."""
    with psycopg2.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute(
            """
            SELECT count(*) FROM (SELECT command_id FROM control_commandattempt a JOIN control_command c ON c.id = a.command_id
                                  WHERE c.created_at BETWEEN %s AND %s GROUP BY command_id HAVING count(*) > 1) AS more
            """,
            [since, until],
        )
        more_than_once = cur.fetchone()[0]
        cur.execute(
            """
            SELECT count(*) FROM control_commandattempt a JOIN control_commandattempt b
              ON a.command_id = b.command_id AND a.id < b.id
             AND tstzrange(a.leased_at, coalesce(a.lease_ended_at, a.lease_until)) && tstzrange(b.leased_at, coalesce(b.lease_ended_at, b.lease_until))
            JOIN control_command c ON c.id = a.command_id WHERE c.created_at BETWEEN %s AND %s
            """,
            [since, until],
        )
        overlapping = cur.fetchone()[0]
        cur.execute(
            """
            SELECT extract(epoch FROM min(a.leased_at) - coalesce(c.approved_at, c.created_at))
            FROM control_command c JOIN control_commandattempt a ON a.command_id = c.id
            WHERE c.created_at BETWEEN %s AND %s GROUP BY c.id, c.approved_at, c.created_at
            """,
            [since, until],
        )
        lags = [float(row[0]) for row in cur.fetchall()]
        cur.execute(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(coalesce(approved_at, created_at))), 0) "
            "FROM control_command WHERE state = 'queued' AND created_at BETWEEN %s AND %s",
            [since, until],
        )
        still_queued, oldest_queued = cur.fetchone()
        cur.execute("SELECT count(*) FROM control_commandattempt WHERE ack_status = ''")
        unacked = cur.fetchone()[0]
    conn.close()
    return {
        "attempt_rows": len(lags),
        "leased_more_than_once": more_than_once,
        "overlapping_leases": overlapping,
        "lags": lags,
        "still_queued": still_queued,
        "oldest_queued_sec": float(oldest_queued),
        "unacked_attempts": unacked,
    }


def ms(values: list[float], q: float = 0.95) -> float:
    """A percentile in ms, nearest rank (0.0 without samples)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000, 1)


def _tokens(site_pk: int) -> list[int]:
    from tenants.models import CollectorToken

    return list(CollectorToken.objects.filter(collector__site_id=site_pk).order_by("pk").values_list("pk", flat=True))


def _run(groups, producer: "Producer", *, seconds: float, alternate: bool) -> dict:
    """Collectors on their clocks for `seconds` while the producer makes commands; the producer
    stops one poll interval early, so every command it made had a poll of its site to go out on."""
    workers = start(groups, alternate=alternate)
    deadline = time.monotonic() + seconds
    for _, pipe in workers:
        pipe.send((POLL_INTERVAL_SEC, deadline))
    producer.run_until(deadline - POLL_INTERVAL_SEC)
    out = collect(workers)
    out["double_dispatch_seen"] = len(out["got"]) - len(set(out["got"]))
    return out


def run_cadence(producer: "Producer", site, *, runs: int, seconds: float) -> dict:
    """`runs` runs of the site's collectors (one process each), product and bare ticks alternating."""
    groups = [[(i, pk, site.pk)] for i, pk in enumerate(_tokens(site.pk))]
    per_run = []
    for n in range(runs):
        out = _run(groups, producer, seconds=seconds, alternate=True)
        per_run.append(
            {
                "polls": len(out["poll"]),
                "acks": len(out["ack"]),
                "raw_polls": len(out["raw_poll"]),
                "raw_acks": len(out["raw_ack"]),
                "poll_p95_ms": ms(out["poll"]),
                "poll_p50_ms": ms(out["poll"], 0.5),
                "poll_max_ms": ms(out["poll"], 1.0),
                "ack_p95_ms": ms(out["ack"]),
                "raw_poll_p95_ms": ms(out["raw_poll"]),
                "raw_ack_p95_ms": ms(out["raw_ack"]),
                "double_dispatch_seen": out["double_dispatch_seen"],
                "load_avg": os.getloadavg(),
            }
        )
        r = per_run[-1]
        r["poll_ratio"] = round(r["poll_p95_ms"] / max(r["raw_poll_p95_ms"], 0.1), 2)
        r["ack_ratio"] = round(r["ack_p95_ms"] / max(r["raw_ack_p95_ms"], 0.1), 2)
        print(
            f"  run {n + 1}: poll p95 {r['poll_p95_ms']} ms (bare {r['raw_poll_p95_ms']}), ACK p95 {r['ack_p95_ms']} ms "
            f"(bare {r['raw_ack_p95_ms']}), {r['polls']} polls, {r['acks']} ACKs, load {r['load_avg'][0]:.1f}"
        )
    summary = {
        key: statistics.median(r[key] for r in per_run)
        for key in ("poll_p95_ms", "ack_p95_ms", "raw_poll_p95_ms", "raw_ack_p95_ms")
    }
    # Each run's ratio to its own bare figures, then the median of those (the medians above may come
    # from different runs).
    summary["poll_ratio"] = statistics.median(r["poll_ratio"] for r in per_run)
    summary["ack_ratio"] = statistics.median(r["ack_ratio"] for r in per_run)
    summary["double_dispatch_seen"] = sum(r["double_dispatch_seen"] for r in per_run)
    return {"runs": per_run, "median": summary}


def run_fleet(producer: "Producer", sites: list, *, minutes: float, processes: int) -> dict:
    """Every collector of every site, dealt round-robin to `processes` processes; product path only."""
    from django.utils import timezone

    collectors = [(site.pk, pk) for site in sites for pk in _tokens(site.pk)]
    groups: list[list[tuple[int, int, int]]] = [[] for _ in range(min(processes, len(collectors)))]
    for i, (site_pk, pk) in enumerate(collectors):
        groups[i % len(groups)].append((i, pk, site_pk))
    since = timezone.now()
    out = _run(groups, producer, seconds=minutes * 60, alternate=False)
    check = attempts_check(since, timezone.now())
    lags = check.pop("lags")
    return {
        "collectors": len(collectors),
        "processes": len(groups),
        "polls": len(out["poll"]),
        "acks": len(out["ack"]),
        "commands_created": producer.created,
        "commands_approved": producer.approved,
        "poll_p50_ms": ms(out["poll"], 0.5),
        "poll_p95_ms": ms(out["poll"]),
        "poll_p99_ms": ms(out["poll"], 0.99),
        "poll_max_ms": ms(out["poll"], 1.0),
        "polls_over_1s": sum(t > 1.0 for t in out["poll"]),
        "ack_p95_ms": ms(out["ack"]),
        "late_p99_ms": ms(out["late"], 0.99),
        "late_max_ms": ms(out["late"], 1.0),
        "double_dispatch_seen": out["double_dispatch_seen"],
        "queue_lag_p50_sec": round(ms(lags, 0.5) / 1000, 2),
        "queue_lag_p99_sec": round(ms(lags, 0.99) / 1000, 2),
        "queue_lag_max_sec": round(ms(lags, 1.0) / 1000, 2),
        "load_avg": os.getloadavg(),
        **check,
    }
