"""The collector tokens this process resolved lately (tenants.collector_auth), so a collector's
requests cost no token query: the token row with its collector, zone, site, the site's edge
settings and aliases (what CollectorPrincipal and the edge checks read), keyed by the token's
digest, for COLLECTOR_AUTH_CACHE_SEC (0 = off: every request looks its token up).

A change made in this process (a token revoked or rotated, a collector, site or its edge rules
or aliases changed: the tenants services) empties it at once, and again when its transaction
commits. A change made by another process (another gunicorn worker, another box, the admin of
another host) takes effect there within COLLECTOR_AUTH_CACHE_SEC: the trade-off written down in
docs/SECURITY.md. What can lapse on its own is checked on every request against the cached row:
its expires_at (tenants.collector_auth); the edge checks (allowlist, mTLS certificate) still run
per request. Unknown tokens are never cached: a new token works at once, garbage costs a query.

Beside it, what this process last wrote of each collector device's row (tenants.services
collector_token_touch writes one at most once per COLLECTOR_TOKEN_LAST_USED_RESOLUTION_SEC), kept
whatever COLLECTOR_AUTH_CACHE_SEC says: a worker re-reading a token does not rewrite its devices.

Per process, no lock: a gunicorn worker serves one request at a time, and a dict's get, set and
clear are atomic under the GIL where threads share one."""

import datetime as dt
from time import monotonic

from django.conf import settings
from django.db import transaction

from tenants.models import CollectorToken

# A bound on memory whatever the number of tokens: when full, it starts again empty.
MAX_ENTRIES = 10_000

_entries: dict[str, tuple[float, CollectorToken]] = {}
# Bumped by every clear: a lookup that started before a clear must not store what it read.
_generation = 0
# (token pk, device id) → when this process last wrote the device's row, and the User-Agent it wrote.
_devices: dict[tuple[int, str], tuple[dt.datetime, str]] = {}


def generation() -> int:
    return _generation


def cached_token(digest: str) -> CollectorToken | None:
    """The token resolved for this digest less than COLLECTOR_AUTH_CACHE_SEC ago, else None."""
    ttl = settings.COLLECTOR_AUTH_CACHE_SEC
    if ttl <= 0:
        return None
    hit = _entries.get(digest)
    if hit is None:
        return None
    stored_at, token = hit
    if monotonic() - stored_at >= ttl:
        _entries.pop(digest, None)
        return None
    return token


def cache_token(digest: str, token: CollectorToken, *, since_generation: int) -> None:
    """Keep a token just looked up, unless the cache was cleared since the lookup began."""
    if settings.COLLECTOR_AUTH_CACHE_SEC <= 0 or since_generation != _generation:
        return
    if len(_entries) >= MAX_ENTRIES:
        _entries.clear()
    _entries[digest] = (monotonic(), token)


def device_written_at(token_pk: int, device_id: str) -> tuple[dt.datetime | None, str]:
    return _devices.get((token_pk, device_id), (None, ""))


def device_written(token_pk: int, device_id: str, at: dt.datetime, user_agent: str) -> None:
    if len(_devices) >= MAX_ENTRIES:  # tokens sending ever new device ids: memory stays bounded
        _devices.clear()
    _devices[(token_pk, device_id)] = (at, user_agent)


def collector_auth_cache_clear() -> None:
    global _generation
    _generation += 1
    _entries.clear()
    _devices.clear()


def collector_auth_cache_invalidate() -> None:
    """For the services that change what a collector's authentication reads: empty the cache now
    (this transaction's own requests, and tests) and again on commit (a request of another thread
    that read the old rows before the commit must not keep them)."""
    collector_auth_cache_clear()
    transaction.on_commit(collector_auth_cache_clear)
