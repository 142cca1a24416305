"""A collector's exact last command poll, for its status (GET /api/collector/status, the admin's
Collector status): one key per collector in the shared Redis cache, written by every poll (one SET,
no database write), read for all the collectors of a status answer or an admin page in one MGET.

Collector.last_poll_at stays the durable copy, written at most once per
COLLECTOR_TOKEN_LAST_USED_RESOLUTION_SEC (tenants.services.collector_poll_touch): where Redis has
nothing (flushed, restarted empty, the key expired, unreachable) the status shows the column, at
most that resolution older than the real poll. Redis trouble never fails a poll or a status page."""

import datetime as dt

import structlog
from django.core.cache import cache
from redis.exceptions import RedisError

logger = structlog.get_logger(__name__)

# A day: a collector silent for longer shows the column's value, a resolution older at most.
TTL_SEC = 24 * 3600
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def _key(collector_id: int) -> str:
    return f"collector_last_poll:{collector_id}"


def last_poll_record(collector_id: int, at: dt.datetime) -> None:
    """One SET: the poll's time, in microseconds since the epoch (an integer, readable as it is)."""
    try:
        cache.set(_key(collector_id), (at - _EPOCH) // _MICROSECOND, timeout=TTL_SEC)
    except RedisError:
        logger.warning("collector_last_poll.cache_unavailable", collector_id=collector_id)


def last_poll_many(columns: dict[int, dt.datetime | None]) -> dict[int, dt.datetime | None]:
    """Per collector id: the newer of its Redis key and its column (`columns`: id → last_poll_at).
    One MGET for all of them."""
    if not columns:
        return {}
    keys = {_key(pk): pk for pk in columns}
    try:
        found = cache.get_many(list(keys))
    except RedisError:
        logger.warning("collector_last_poll.cache_unavailable", collectors=len(keys))
        found = {}
    out = dict(columns)
    for key, micros in found.items():
        pk, at = keys[key], _EPOCH + int(micros) * _MICROSECOND
        column = out[pk]
        if column is None or at > column:
            out[pk] = at
    return out
