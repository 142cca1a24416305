"""Guardrails on command creation (SPEC §6 rule 6): a rate limit per (site, command_type) and a
blast-radius cap per site. Both hold under concurrency:

- the rate limit is a sliding-window log in Redis, checked and taken by one Lua script (atomic on
  the Redis server, whichever web worker asks; timestamps come from the Redis clock, so app-server
  clock skew cannot widen the window). A creation that fails after taking its slots gives them back.
- the blast radius is counted under a transaction-scoped PostgreSQL advisory lock per site, so two
  concurrent batches cannot both see room for the last miners.
"""

import hashlib
import math
import uuid
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection

from control.errors import BlastRadiusExceeded, RateLimited
from control.models import ACTIVE_STATES, Command, CommandType

# Types whose commands take miners off the hashing fleet: the blast radius counts these.
DISRUPTIVE_TYPES = frozenset({CommandType.REBOOT, CommandType.DISABLE_HASHING, CommandType.POWER_OFF})


@dataclass(frozen=True)
class RateLimit:
    limit: int
    window_sec: int


def parse_rate_limits(text: str) -> dict[str, RateLimit]:
    """'reboot=50/300,disable_hashing=200/300' → {type: RateLimit}. Types not named are unlimited."""
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, spec = item.partition("=")
        limit, _, window = spec.partition("/")
        out[name.strip()] = RateLimit(int(limit), int(window))
    return out


def rate_limit_for(command_type: str) -> RateLimit | None:
    return parse_rate_limits(settings.COMMAND_RATE_LIMITS).get(command_type)


# KEYS[1] window key; ARGV: window_ms, limit, n, token. Returns the slots used before, or -1 when
# n more do not fit. Members are "<token>:<i>" so a failed creation can remove exactly its own.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, limit, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if used + n > limit then return -1 end
for i = 1, n do redis.call('ZADD', KEYS[1], now, ARGV[4] .. ':' .. i) end
redis.call('PEXPIRE', KEYS[1], window)
return used
"""

_client: redis.Redis | None = None
_script = None


def _redis():
    global _client, _script
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL)
        _script = _client.register_script(_TAKE)
    return _client, _script


def _window_key(site_code: str, command_type: str) -> str:
    # The cache's key prefix keeps test runs and a dev server on one Redis apart.
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    return f"{prefix}:control:ratelimit:{site_code}:{command_type}"


@dataclass
class RateTicket:
    """Slots taken in one window; `release()` gives them back (the creation failed)."""

    key: str = ""
    token: str = ""
    n: int = 0

    def release(self) -> None:
        if self.n:
            client, _ = _redis()
            client.zrem(self.key, *[f"{self.token}:{i}" for i in range(1, self.n + 1)])
            self.n = 0


def rate_limit_take(*, site_code: str, command_type: str, n: int = 1) -> RateTicket:
    """Take n slots of the (site, type) window, or raise RATE_LIMITED taking none."""
    rule = rate_limit_for(command_type)
    if rule is None or n <= 0:
        return RateTicket()
    client, script = _redis()
    key, token = _window_key(site_code, command_type), uuid.uuid4().hex
    used = script(keys=[key], args=[rule.window_sec * 1000, rule.limit, n, token], client=client)
    if used < 0:
        raise RateLimited(
            f"at most {rule.limit} {command_type} commands per {rule.window_sec} s at site {site_code}",
            limit=rule.limit,
            window_sec=rule.window_sec,
            requested=n,
        )
    return RateTicket(key, token, n)


def _site_lock_key(site_id: int) -> int:
    digest = hashlib.blake2b(f"control:blast:{site_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def blast_radius_cap(total_miners: int) -> int:
    share = settings.COMMAND_BLAST_RADIUS_PCT / 100
    return max(settings.COMMAND_BLAST_RADIUS_MIN_MINERS, math.floor(total_miners * share))


def _blast_state(site) -> tuple[int, set[int], int]:
    """(site miners, miners with an active disruptive command, cap), under the site's advisory lock.

    Call inside the creating transaction: the lock is held until it commits, so the count cannot go
    stale between the check and the insert (two batches racing for the last slots)."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [_site_lock_key(site.pk)])
    from tenants.models import Miner

    total = Miner.objects.filter(site=site).count()
    busy = set(
        Command.objects.filter(site=site, state__in=ACTIVE_STATES, command_type__in=DISRUPTIVE_TYPES)
        .values_list("miner_id", flat=True)
        .distinct()
    )
    return total, busy, blast_radius_cap(total)


def blast_radius_check(*, site, command_type: str, miner_ids: list[int]) -> None:
    """Refuse when the site's miners with an active disruptive command, plus these, exceed the cap."""
    if command_type not in DISRUPTIVE_TYPES or not miner_ids:
        return
    total, busy, cap = _blast_state(site)
    after = len(busy | set(miner_ids))
    if after > cap:
        raise BlastRadiusExceeded(
            f"{after} of {total} miners at site {site.code} would have a disruptive command active; the cap is {cap} "
            f"({settings.COMMAND_BLAST_RADIUS_PCT} %)",
            cap=cap,
            active=len(busy),
            requested=len(miner_ids),
            site_miners=total,
        )


def blast_radius_fit(*, site, command_type: str, miner_ids: list[int]) -> tuple[list[int], str]:
    """The miners (in the order given) that fit under the cap one by one, and why the rest do not."""
    if command_type not in DISRUPTIVE_TYPES or not miner_ids:
        return list(miner_ids), ""
    total, busy, cap = _blast_state(site)
    fit = []
    for pk in miner_ids:
        if pk in busy or len(busy) < cap:
            busy.add(pk)
            fit.append(pk)
    why = (
        f"site {site.code} has {len(busy)} of {total} miners with a disruptive command active; the cap is {cap} "
        f"({settings.COMMAND_BLAST_RADIUS_PCT} %)"
    )
    return fit, why
