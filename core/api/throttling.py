"""Fixed-window rate limits counted in the shared Redis cache, so a limit holds across gunicorn
workers and hosts: the collector throttles (tenants.collector_throttle) and the refused-proposal
limit (control.proposal_throttle). Over a limit the answer is 429 RATE_LIMITED with Retry-After
(core.api.exceptions).

DRF's SimpleRateThrottle keeps a list of timestamps and writes it back (get, then set): two
workers answering the same key at once both read the old list and one increment is lost. Here a
window is one Redis counter, incremented atomically (INCR), so every request counts; INCR and the
window's EXPIRE go in one Lua script (EVALSHA), one round trip per request: Django's cache.incr is
two (EXISTS, then INCR) and a window's first request two more (the failed incr, then ADD).
"""

import math

import structlog
from django.conf import settings
from django.core.cache.backends.redis import RedisCacheClient
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

logger = structlog.get_logger(__name__)

# On a request: the (cache, window key) pairs it was counted in, for throttle_refund.
_COUNTED = "_throttle_counted"

# The window's counter and its expiry set with its first count, atomically: a counter that exists
# always expires (an INCR then a separate EXPIRE could leave one behind for good between the two).
_INCR_EXPIRE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class FixedWindowThrottle(SimpleRateThrottle):
    """`rate_setting` names the setting holding the rate ("120/min"; "" switches the limit off);
    subclasses say what is counted (get_cache_key)."""

    rate_setting = ""
    unavailable_event = "throttle.cache_unavailable"  # logged when Redis does not answer
    # set by SimpleRateThrottle.__init__ from the rate (the stubs do not declare them)
    num_requests: int
    duration: int
    retry_after: float = 0.0

    def get_rate(self):
        # Read on each request (not frozen at import like DRF's THROTTLE_RATES).
        return getattr(settings, self.rate_setting) or None

    def _window(self, key: str) -> str:
        now = self.timer()
        window = int(now // self.duration)
        self.retry_after = (window + 1) * self.duration - now
        return f"{key}:{window}"

    def allow_request(self, request, view):
        """Count this request; False once the window holds more than the rate allows."""
        key = self.get_cache_key(request, view) if self.rate else None
        if key is None:
            return True
        key = self._window(key)
        try:
            count = self._count(key, timeout=math.ceil(self.retry_after) + 2)
        except RedisError:
            # The limit protects the cloud; it must not turn a Redis hiccup into refused requests.
            logger.warning(self.unavailable_event, scope=self.scope)
            return True
        try:
            getattr(request, _COUNTED).append((self.cache, key))
        except AttributeError:
            setattr(request, _COUNTED, [(self.cache, key)])
        return count <= self.num_requests

    def _count(self, key: str, *, timeout: int) -> int:
        # self.cache is django.core.cache.cache (a proxy of the backend) or a backend a test gives
        backend_client = getattr(self.cache, "_cache", None)
        if isinstance(backend_client, RedisCacheClient):
            full_key = self.cache.make_and_validate_key(key)
            client = backend_client.get_client(full_key, write=True)
            # redis-py's Script sends EVALSHA, and loads the script once when Redis does not know it
            # (first use, or a Redis restarted empty).
            return int(client.register_script(_INCR_EXPIRE)(keys=[full_key], args=[timeout]))
        try:  # another cache backend: its own incr, then add for a window's first request
            return self.cache.incr(key)
        except ValueError:  # first request of this window
            if self.cache.add(key, 1, timeout=timeout):
                return 1
            return self.cache.incr(key)  # another worker created it in between

    def wait(self):
        return self.retry_after


def throttle_refund(request) -> None:
    """Give back the counts a request took when the cloud could not serve it (a dependency down:
    503, core.api.exceptions). A collector retries through a database outage; those retries must
    not leave it throttled once the database is back. (Authentication that needs no database, a
    cached collector token, lets such a request reach the throttle before it fails.)"""
    for cache, key in getattr(request, _COUNTED, ()):
        try:
            cache.decr(key)
        except (ValueError, RedisError):  # the window is gone, or Redis is the one that is down
            pass
    setattr(request, _COUNTED, [])
