"""What an empty command poll costs once its collector's token is cached (tenants.collector_auth_cache):
its database statements and Redis round trips, counted (issue 18, 100 collectors polling; the
figures in docs/OPERATIONS.md "What a poll costs")."""

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext

from control.tests.factories import collector_headers

pytestmark = pytest.mark.django_db
POLL = "/api/edge/v1/commands/poll"


def _empty_poll(client, world, monkeypatch) -> tuple[list[str], list[str]]:
    """One empty poll: its SQL statements (savepoints left out: the test's transaction makes the
    poll's own transaction one) and the Redis commands this process sent."""
    sent: list[str] = []
    real = redis.Redis.execute_command

    def recording(self, *args, **options):
        sent.append(args[0])
        return real(self, *args, **options)

    with monkeypatch.context() as patch, CaptureQueriesContext(connection) as queries:
        patch.setattr(redis.Redis, "execute_command", recording)
        assert client.get(POLL, **collector_headers(world.token_x, "SITE-X", "box-1")).status_code == 204
    statements = [q["sql"].strip() for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    return statements, sent


@pytest.fixture
def polled(client, world, settings):
    settings.COLLECTOR_AUTH_CACHE_SEC = 10  # the default
    settings.COLLECTOR_POLL_RATE = "100000/day"  # one throttle window for the whole test
    assert client.get(POLL, **collector_headers(world.token_x, "SITE-X", "box-1")).status_code == 204


def test_an_empty_poll_with_its_token_cached_is_one_statement_and_two_redis_round_trips(
    client, world, settings, monkeypatch, polled
):
    statements, sent = _empty_poll(client, world, monkeypatch)
    assert len(statements) == 1 and statements[0].startswith("WITH busy AS MATERIALIZED"), statements  # the lease
    assert sent == ["EVALSHA", "SET"]  # the poll throttle's count, the last poll's time


def test_with_the_auth_cache_off_a_poll_also_reads_its_token(client, world, settings, monkeypatch, polled):
    settings.COLLECTOR_AUTH_CACHE_SEC = 0
    statements, sent = _empty_poll(client, world, monkeypatch)
    assert len(statements) == 2 and statements[0].startswith('SELECT "tenants_collectortoken"'), statements
    assert statements[1].startswith("WITH busy AS MATERIALIZED"), statements
    assert sent == ["EVALSHA", "SET"]
    # the device's row was written by the first poll: not again within the resolution, cache or not
    assert not [s for s in statements if s.startswith('UPDATE "tenants_collectordevice"')]
