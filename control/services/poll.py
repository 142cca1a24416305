"""The edge channel of the command queue, poll side (SPEC §6, §6.2; COLLECTOR_PROTOCOL §3): a
poll leases ready commands and hands them out as wire objects.

A lease is not a lock: every grant bumps `lease_epoch`, and an ACK decides only when it comes
from the current lease holder of the current attempt (the collector does not echo the epoch, so
the holder is matched by collector and device).
"""

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.services import REFS_KEY, Actor, EventSpec, audit_record_many, entity_ref_key
from control import metrics
from control.models import (
    TRANSITIONS,
    CommandSigningKey,
    CommandState,
    CommandType,
)
from control.services.signing import command_signer, signing_secret
from core.gc import gc_paused
from tenants.models import Site
from tenants.services import collector_poll_touch

logger = structlog.get_logger(__name__)

S = CommandState
SYSTEM = Actor.system("control.queue")

# cloud command_type → the collector's action name (SPEC §6.1)
EDGE_ACTION: dict[str, str] = {
    CommandType.REBOOT: "restart",
    CommandType.DISABLE_HASHING: "disable",
    CommandType.ENABLE_HASHING: "enable",
    CommandType.SET_FREQUENCY: "set_frequency",
    CommandType.SET_FAN: "set_fan",
    CommandType.SET_POOL: "set_pool",
}

# The two-key advisory lock space of "the per-miner lease slot"; the second key is the miner pk.
_MINER_SLOT_LOCK = 0x434D44  # "CMD"

# One poll's lease in one statement. `busy` and `top` are read once per poll from the site's
# active commands, not probed per candidate: the planner, working from statistics taken when
# hardly a row was active (a 1M-row table is rarely re-analyzed), scans a whole index per probe.
# The lease (SPEC §6 rules 1-3, 8; §6.2). `cand` takes the site's ready
# commands best first (command_ready_idx) with SKIP LOCKED, so concurrent polls split the queue and
# never wait on each other, and leaves out:
#   - miners with a leased command (`busy`: per-miner serial),
#   - commands waiting behind a higher class on their miner (`top`, arbitration: a proposed,
#     approved or queued command of a higher class goes first; command_pending_idx),
#   - miners another collector device reported within TELEMETRY_STALE_SEC (device affinity).
# `pick` keeps one command per miner and only miners whose slot no other poll is taking right now
# (the advisory lock; a miner it misses is skipped, never waited for). `leased` moves them to
# dispatched with a fresh epoch; `attempt` opens or re-opens (a lapsed lease re-dispatched under the
# same wire id) the attempt row. `scanned` tells whether another round could find more. The wire id,
# `expires_at` as the wire writes it (ISO, milliseconds truncated, Z) and `ttl_sec` come out as
# text and an integer: formatting them in Python was a third of a poll's CPU.
_LEASE_SQL = """
WITH busy AS MATERIALIZED (
    SELECT miner_id FROM control_command WHERE site_id = %(site)s AND state IN ('dispatched', 'running')
), top AS MATERIALIZED (
    SELECT miner_id, max(priority_class) AS priority_class FROM control_command
    WHERE site_id = %(site)s AND state IN ('proposed', 'approved', 'queued') AND expires_at > %(now)s
    GROUP BY miner_id HAVING min(priority_class) < max(priority_class)  -- only mixed classes can make one wait
), cand AS MATERIALIZED (
    SELECT c.id, c.miner_id, c.priority_class, c.priority, c.created_at
    FROM control_command c
    LEFT JOIN telemetry_live l ON l.miner_id = c.miner_id
    LEFT JOIN top t ON t.miner_id = c.miner_id
    WHERE c.site_id = %(site)s AND c.state = 'queued' AND c.expires_at > %(now)s
      AND (c.not_before IS NULL OR c.not_before <= %(now)s)
      {zone}
      AND c.miner_id NOT IN (SELECT miner_id FROM busy)
      AND (t.priority_class IS NULL OR t.priority_class <= c.priority_class)
      AND (l.miner_id IS NULL OR l.device_id = '' OR l.device_id = %(device)s OR l.ts < %(fresh)s)
    ORDER BY c.priority_class DESC, c.priority DESC, c.created_at
    LIMIT %(limit)s
    FOR UPDATE OF c SKIP LOCKED
), pick AS MATERIALIZED (
    SELECT id FROM (
        SELECT DISTINCT ON (miner_id) id, miner_id FROM cand \
ORDER BY miner_id, priority_class DESC, priority DESC, created_at
    ) AS best
    WHERE pg_try_advisory_xact_lock(%(slot)s, miner_id::int)
), leased AS (
    UPDATE control_command AS c
    SET state = 'dispatched', updated_at = %(now)s, lease_epoch = c.lease_epoch + 1, lease_collector_id = %(collector)s,
        lease_device_id = %(device)s, lease_until = %(until)s, blocked_reason = ''
    FROM pick WHERE c.id = pick.id
    RETURNING c.id, c.miner_id, c.tenant_id, c.command_type, c.params, c.priority_class, c.priority, c.created_at,
              c.attempt, c.lease_epoch, c.expires_at
), attempt AS (
    INSERT INTO control_commandattempt (command_id, attempt, wire_id, lease_epoch, collector_id, device_id, leased_at,
        lease_until, lease_ended_at, lease_end_reason, ack_status, error_class, result_message)
    SELECT id, attempt, CASE WHEN attempt = 1 THEN id::text ELSE id::text || '.' || attempt::text END, lease_epoch,
        %(collector)s, %(device)s, %(now)s, %(until)s, NULL, '', '', '', ''
    FROM leased
    ON CONFLICT (command_id, attempt) DO UPDATE SET lease_epoch = EXCLUDED.lease_epoch,
        collector_id = EXCLUDED.collector_id, device_id = EXCLUDED.device_id, leased_at = EXCLUDED.leased_at,
        lease_until = EXCLUDED.lease_until, lease_ended_at = NULL, lease_end_reason = ''
)
SELECT x.id, x.miner_id, x.tenant_id, x.command_type, x.params::text, x.attempt, x.lease_epoch, \
CASE WHEN x.attempt = 1 THEN x.id::text ELSE x.id::text || '.' || x.attempt::text END, \
to_char(x.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), \
greatest(1, ceil(extract(epoch FROM x.expires_at - %(now)s)))::int, m.miner_id, m.miner_key,
    (SELECT count(*) FROM cand), \
(SELECT k.salt FROM control_commandsigningkey k WHERE k.collector_id = %(collector)s AND k.enabled)
FROM leased x JOIN tenants_miner m ON m.id = x.miner_id
ORDER BY x.priority_class DESC, x.priority DESC, x.created_at
"""


def iso_z(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class _Grant:
    """One lease a poll granted: what its wire object, audit event and metrics read, and nothing
    else. Command and Miner model instances cost more CPU than the lease statement itself (~4 ms
    for 100 grants), and a poll's CPU is what ten concurrent polls queue for on a small host."""

    pk: int
    tenant_id: int
    site: Site
    miner_id: int  # the Miner pk, as on Command
    command_type: str
    params: dict
    attempt: int
    lease_epoch: int
    wire_id: str  # wire_id_of(pk, attempt), made by the lease statement
    expires_at: str  # as the wire writes it (iso_z)
    ttl_sec: int  # whole seconds from the poll's `now` to expires_at, rounded up, at least 1
    miner_name: str  # Miner.miner_id, the name the collector knows
    miner_key: str
    lease_until: dt.datetime


def _lease(*, collector, device_id: str, limit: int, now: dt.datetime) -> tuple[list[_Grant], str | None]:
    """Lease up to `limit` ready commands, at most one per miner, as grants carrying the fields the
    wire object and the audit event need; and the collector's signing salt, if any."""
    zone = "AND c.zone_id = %(zone)s" if collector.zone_id else ""
    until = now + dt.timedelta(seconds=settings.COMMAND_LEASE_SEC)
    params = {
        "site": collector.site_id,
        "zone": collector.zone_id,
        "now": now,
        "device": device_id,
        "collector": collector.pk,
        "fresh": now - dt.timedelta(seconds=settings.TELEMETRY_STALE_SEC),
        "slot": _MINER_SLOT_LOCK,
        "until": until,
    }
    grants: list[_Grant] = []
    salt = None
    site = collector.site
    with connection.cursor() as cur:
        for _ in range(4):  # another round only when candidates shared a miner or lost its slot
            want = limit - len(grants)
            cur.execute(_LEASE_SQL.format(zone=zone), params | {"limit": want})
            rows = cur.fetchall()
            for pk, miner_pk, tenant_id, kind, args, attempt, epoch, wire_id, expires, ttl, name, key, _, _ in rows:
                args = (orjson.loads(args) if isinstance(args, str) else args) or {}
                grants.append(
                    _Grant(
                        pk,
                        tenant_id,
                        site,
                        miner_pk,
                        kind,
                        args,
                        attempt,
                        epoch,
                        wire_id,
                        expires,
                        ttl,
                        name,
                        key,
                        until,
                    )
                )
            scanned = rows[0][12] if rows else 0
            salt = rows[0][13] if rows else salt  # the same on every row: the collector's key
            # Nothing leased ends the poll: its candidates (if any) were all taken by other polls.
            if not rows or len(grants) >= limit or scanned < want:
                break
    return grants, salt


def command_poll_lease(*, principal, limit: int) -> list[dict]:
    """Lease the calling collector's ready commands (queued → dispatched) and return their wire objects.

    The lease statement is the transition: it re-reads each row locked (`state = 'queued'` under
    FOR UPDATE) and refuses the rest, and every lease is audited below in the same transaction.
    The poll itself is kept as the collector's last_poll_at (its status), leases or not, in the
    lease's transaction (one commit, not two)."""
    with gc_paused():
        return _poll_lease(principal=principal, limit=limit)


def _poll_lease(*, principal, limit: int) -> list[dict]:
    assert S.DISPATCHED in TRANSITIONS[S.QUEUED]
    collector = principal.collector
    device_id = principal.device_id
    for retry in range(3):
        now = timezone.now()
        try:
            with transaction.atomic():
                commands, salt = _lease(collector=collector, device_id=device_id, limit=limit, now=now)
                # After the lease: an IntegrityError retry above must not find it already written.
                collector_poll_touch(
                    collector=collector, resolution_sec=settings.COLLECTOR_TOKEN_LAST_USED_RESOLUTION_SEC
                )
                if not commands:
                    return []
                actor = Actor.collector(collector, device_id)
                # Last, so the chain head is locked only for the append and the commit.
                audit_record_many(
                    actor=actor, events=dispatched_events(commands, collector=collector, device_id=device_id)
                )
            break
        except IntegrityError as exc:
            # A miner whose lease another poll committed after this statement's snapshot was taken:
            # the unique index refused the second lease. A new statement sees it and skips the miner.
            if "one_leased_command_per_miner" not in str(exc) or retry == 2:
                raise
    by_type = Counter(c.command_type for c in commands)

    def count_dispatched() -> None:
        for kind, n in by_type.items():
            metrics.commands_dispatched_total.labels(kind).inc(n)

    transaction.on_commit(count_dispatched)
    sign = command_signer(signing_secret(CommandSigningKey(collector_id=collector.pk, salt=salt))) if salt else None
    site_id = principal.wire_site_id or collector.site.code
    zone_id = collector.zone.code if collector.zone_id else ""
    issued_at = iso_z(now)
    return [command_wire(c, issued_at=issued_at, site_id=site_id, zone_id=zone_id, sign=sign) for c in commands]


DISPATCHED = "control.commands.dispatched"


def dispatched_events(grants: list[_Grant], *, collector, device_id: str) -> list[EventSpec]:
    """One `control.commands.dispatched` event per chain a poll touches (SPEC §8), listing each lease
    as (command, attempt, lease_epoch) and naming it in `refs`, so each command's timeline finds it."""
    poll_id = uuid.uuid4().hex
    by_chain: dict[tuple[int, str], list[_Grant]] = {}
    for g in grants:
        by_chain.setdefault((g.tenant_id, g.site.code), []).append(g)
    events = []
    for (tenant_id, site_code), mine in by_chain.items():
        payload = {
            "from": S.QUEUED,
            "to": S.DISPATCHED,
            "reason": "leased by poll",
            "collector": collector.name,
            "device_id": device_id,
            "lease_until": mine[0].lease_until,
            "commands": [
                {
                    "id": g.pk,
                    "wire_id": g.wire_id,
                    "attempt": g.attempt,
                    "lease_epoch": g.lease_epoch,
                    "command_type": g.command_type,
                    "miner": g.miner_id,
                }
                for g in mine
            ],
            REFS_KEY: [entity_ref_key("control.command", g.pk) for g in mine],
        }
        events.append(EventSpec(DISPATCHED, "control.poll", poll_id, payload, tenant_id, site_code))
    return events


def command_wire(
    grant: _Grant, *, issued_at: str, site_id: str, zone_id: str = "", sign: Callable[[dict], str] | None = None
) -> dict:
    """The command object a collector reads (SPEC §6.1, COLLECTOR_PROTOCOL §3.2). `site_id` is the
    name the polling collector sent for its site (default Site.code); the signature covers it.
    `zone_id` is the zoned collector's zone code; `issued_at` the poll's time (iso_z)."""
    wire: dict[str, Any] = {
        "command_id": grant.wire_id,
        "miner_id": grant.miner_name,
        "command": EDGE_ACTION.get(grant.command_type, grant.command_type),
        "params": grant.params,
        "site_id": site_id,
    }
    if grant.miner_key:
        wire["miner_key"] = grant.miner_key
    if zone_id:
        wire["zone_id"] = zone_id
    wire["issued_at"] = issued_at
    wire["ttl_sec"] = grant.ttl_sec
    wire["expires_at"] = grant.expires_at
    wire["lease_epoch"] = grant.lease_epoch
    if sign is not None:
        wire["signature"] = sign(wire)
    return wire
