"""A real streaming replica on loopback (pgcluster.py: a primary of our own with wal_level=replica,
pg_basebackup -R) behind the database router (core/replica.py): portal reads go to the replica, a
paused replay within REPLICA_MAX_LAG_SEC is tolerated, beyond it the primary answers, and the page
never fails. The scenario runs in its own process (replica_scenario.py) on those two databases."""

import json

import pytest

from hashinsight.tests import pgcluster, procs

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def primary_and_replica(django_db_setup):
    primary = pgcluster.primary_start()
    clusters = [primary]
    try:
        url = pgcluster.copy_test_database(primary)
        replica = pgcluster.replica_start(primary)
        clusters.append(replica)
        pgcluster.wait_replayed(primary, replica)
        assert replica.psql("SELECT pg_is_in_recovery()") == "t"
        yield url, replica.url("hi")
    finally:
        pgcluster.remove(*clusters)


def test_portal_reads_use_the_replica_and_fall_back_to_the_primary_when_it_lags(primary_and_replica):
    primary_url, replica_url = primary_and_replica
    env = procs.service_env(
        DATABASE_URL=primary_url,
        DATABASE_REPLICA_URL=replica_url,
        REPLICA_LAG_CHECK_SEC="0",
        ALLOWED_HOSTS="testserver",
    )
    result = procs.python("hashinsight/tests/replica_scenario.py", env=env, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    seen = json.loads(line.removeprefix("RESULT "))
    # current replica: the page is read there
    assert seen["current"]["status"] == 200 and seen["current"]["replica_queries"] > 0
    assert seen["current"]["shows"] == ["R-1"]
    # replay paused, lag within the bound: still the replica, which does not have LAG-1 yet
    assert seen["paused_within_bound"] == {
        "status": 200,
        "replica_queries": seen["current"]["replica_queries"],
        "shows": ["R-1"],
    }
    # beyond the bound: nothing but the lag check read the replica; the primary served LAG-1
    assert seen["paused_beyond_bound"] == {"status": 200, "replica_queries": 0, "shows": ["R-1", "LAG-1"]}
    # resumed: the replica again, now with LAG-1
    assert seen["resumed"]["status"] == 200 and seen["resumed"]["replica_queries"] > 0
    assert seen["resumed"]["shows"] == ["R-1", "LAG-1"]
    assert (seen["scope_read"], seen["scope_write"], seen["scope_session_read"]) == ("replica", "default", "default")
    assert seen["scope_read_in_transaction"] == seen["outside_scope_read"] == "default"
    assert seen["replica_migrate"] is False
