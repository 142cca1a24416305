"""A collector's last_poll in its status is the exact time of its newest poll (tenants.collector_last_poll):
one Redis SET per poll, one MGET per status answer or admin page, against the real Redis; the
database's copy (Collector.last_poll_at) is written at most once per
COLLECTOR_TOKEN_LAST_USED_RESOLUTION_SEC and is what the status shows where Redis has nothing."""

import datetime as dt

import pytest
import redis
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from control.selectors_collector_status import collector_status_get
from control.tests.factories import collector_headers
from core.devcluster import free_port

pytestmark = pytest.mark.django_db
POLL = "/api/edge/v1/commands/poll"
LEGACY_POLL = "/api/collector/commands/pending"
STATUS = "/api/collector/status"


def _headers(world):
    return collector_headers(world.token_x, "SITE-X", "box-1")


def _poll(client, world, url=POLL) -> tuple[dt.datetime, dt.datetime]:
    """One poll; the times just before and just after it."""
    before = timezone.now()
    assert client.get(url, **_headers(world)).status_code in (200, 204)
    return before, timezone.now()


def _status_last_poll(client, world) -> dt.datetime | None:
    response = client.get(STATUS, **_headers(world))
    assert response.status_code == 200, response.content
    value = response.json()["health"]["last_poll"]
    return None if value is None else dt.datetime.fromisoformat(value)


@pytest.fixture
def hour_resolution(settings):
    # The database's copy moves once an hour: anything fresher in the status came from Redis.
    settings.COLLECTOR_TOKEN_LAST_USED_RESOLUTION_SEC = 3600


def test_the_status_shows_the_newest_polls_exact_time_and_the_database_copy_once_redis_is_flushed(
    client, world, hour_resolution
):
    _poll(client, world)
    world.collector_x.refresh_from_db()
    kept = world.collector_x.last_poll_at
    assert kept is not None
    for url in (POLL, LEGACY_POLL):  # later polls, legacy and v1, within the resolution
        before, after = _poll(client, world, url)
        shown = _status_last_poll(client, world)
        assert shown is not None and before <= shown <= after and after - shown < dt.timedelta(seconds=1)
        assert collector_status_get(world.collector_x)["last_poll"] == shown
        world.collector_x.refresh_from_db()
        assert world.collector_x.last_poll_at == kept < before  # no database write for these polls

    cache.clear()  # FLUSHDB of the cache's Redis database
    assert _status_last_poll(client, world) == kept
    assert collector_status_get(world.collector_x)["last_poll"] == kept


def test_a_newer_database_copy_wins_over_an_older_redis_key(client, world, settings):
    settings.COLLECTOR_TOKEN_LAST_USED_RESOLUTION_SEC = 0  # every poll writes the column too
    _poll(client, world)
    ahead = timezone.now() + dt.timedelta(minutes=5)
    world.collector_x.__class__.objects.filter(pk=world.collector_x.pk).update(last_poll_at=ahead)
    assert collector_status_get(world.collector_x)["last_poll"] == ahead


def _redis_commands(monkeypatch, fn) -> list[tuple]:
    """The commands this process sent to Redis while fn() ran (each still goes to the real server)."""
    sent: list[tuple] = []
    real = redis.Redis.execute_command

    def recording(self, *args, **options):
        sent.append(args)
        return real(self, *args, **options)

    with monkeypatch.context() as patch:
        patch.setattr(redis.Redis, "execute_command", recording)
        fn()
    return sent


def test_a_poll_costs_one_redis_set_and_no_database_write(client, world, hour_resolution, settings, monkeypatch):
    settings.COLLECTOR_POLL_RATE = ""  # the poll throttle off: what is left is the poll's own traffic
    _poll(client, world)  # the first poll writes the column
    with CaptureQueriesContext(connection) as queries:
        sent = _redis_commands(monkeypatch, lambda: _poll(client, world))
    assert [args[0] for args in sent] == ["SET"], sent
    assert sent[0][1].endswith(f"collector_last_poll:{world.collector_x.pk}")
    assert not [q for q in queries.captured_queries if q["sql"].startswith('UPDATE "tenants_collector" ')]
    # with the throttle on, a poll's Redis traffic is the throttle's counter (one script: INCR, and
    # EXPIRE on a window's first count, core.api.throttling) and that one SET: two round trips
    settings.COLLECTOR_POLL_RATE = "100000/day"  # one window for the test (a new one starts at midnight only)
    server = redis.Redis.from_url(settings.REDIS_URL)
    server.script_flush()  # as after a Redis restart: the script is loaded again on the next use
    first = _redis_commands(monkeypatch, lambda: _poll(client, world))  # also the window's first count
    assert [args[0] for args in first] == ["EVALSHA", "SCRIPT LOAD", "EVALSHA", "SET"], first
    sent = _redis_commands(monkeypatch, lambda: _poll(client, world))
    assert [args[0] for args in sent] == ["EVALSHA", "SET"], sent
    (counter,) = server.keys("*throttle:collector_poll:*")
    assert server.get(counter) == b"2" and 0 < server.ttl(counter) <= 86400 + 2  # counted, and it expires


def test_the_admin_list_shows_each_collectors_exact_last_poll(client, world, noc_x, hour_resolution):
    _poll(client, world)
    before, after = _poll(client, world)
    client.force_login(noc_x)
    response = client.get(reverse("admin:control_collectorstatus_changelist"))
    assert response.status_code == 200
    (row,) = [c for c in response.context["cl"].result_list if c.pk == world.collector_x.pk]
    assert before <= row.last_poll_exact <= after and row.last_poll_at < before


def test_with_redis_unreachable_polls_go_on_and_the_status_shows_the_database_copy(client, world, settings):
    settings.COLLECTOR_TOKEN_LAST_USED_RESOLUTION_SEC = 0
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
            "KEY_PREFIX": "hi-test-down",
        }
    }
    before, after = _poll(client, world)
    world.collector_x.refresh_from_db()
    assert before <= world.collector_x.last_poll_at <= after
    assert collector_status_get(world.collector_x)["last_poll"] == world.collector_x.last_poll_at
