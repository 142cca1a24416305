"""A real streaming replica on loopback (pgcluster.py: a primary of our own with wal_level=replica,
pg_basebackup -R) behind the database router (core/replica.py): portal reads go to the replica, a
paused replay within REPLICA_MAX_LAG_SEC is tolerated, beyond it the primary answers, and the page
never fails. The scenario runs in its own process (replica_scenario.py) on those two databases."""

import json

import pytest

from hashinsight.tests import pgcluster, procs

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _primary_and_replica(replica_conf: str = ""):
    primary = pgcluster.primary_start()
    clusters = [primary]
    try:
        url = pgcluster.copy_test_database(primary)
        replica = pgcluster.replica_start(primary, replica_conf)
        clusters.append(replica)
        pgcluster.wait_replayed(primary, replica)
        assert replica.psql("SELECT pg_is_in_recovery()") == "t"
        yield url, replica.url("hi")
    finally:
        pgcluster.remove(*clusters)


@pytest.fixture
def primary_and_replica(django_db_setup):
    yield from _primary_and_replica()


# The standby cancels a query in replay's way after 300 ms (the deadlock check, after 60 s, never first).
CONFLICT_CONF = "max_standby_streaming_delay = 300ms\ndeadlock_timeout = 60s\nhot_standby_feedback = off\n"


@pytest.fixture
def conflicting_replica(django_db_setup):
    yield from _primary_and_replica(CONFLICT_CONF)


def _scenario(script: str, primary_url: str, replica_url: str) -> dict:
    env = procs.service_env(
        DATABASE_URL=primary_url,
        DATABASE_REPLICA_URL=replica_url,
        REPLICA_LAG_CHECK_SEC="0",
        ALLOWED_HOSTS="testserver",
    )
    result = procs.python(script, env=env, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT "))


def test_portal_reads_use_the_replica_and_fall_back_to_the_primary_when_it_lags(primary_and_replica):
    seen = _scenario("hashinsight/tests/replica_scenario.py", *primary_and_replica)
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


def test_a_page_whose_replica_read_is_cancelled_by_recovery_or_cut_off_is_answered_from_the_primary(
    conflicting_replica,
):
    seen = _scenario("hashinsight/tests/replica_conflict_scenario.py", *conflicting_replica)
    assert seen["calm"]["status"] == 200 and seen["calm"]["replica_queries"] > 0
    # A real recovery conflict cancelled the page's replica query (the standby counted it) …
    conflict = seen["conflict"]
    assert conflict["conflicts_after"] > conflict["conflicts_before"]
    # … and the page still answered, with the customer's miners, read again on the primary.
    assert conflict["status"] == 200 and conflict["shows"] == ["C-1", "C-2", "C-3"], conflict
    assert conflict["primary_read_miners"] and conflict["replica_queries"] > 0
    # Its replica backend terminated mid-page: the same.
    terminate = seen["terminate"]
    assert terminate["terminated"] is True
    assert terminate["status"] == 200 and terminate["shows"] == ["C-1", "C-2", "C-3"], terminate
    assert terminate["primary_read_miners"]
    assert seen["after"]["status"] == 200
    # Each fallback counted once, with its reason, and logged with the replica's own words.
    assert seen["metric"] == {"recovery_conflict": 1.0, "connection_lost": 1.0}
    assert [f["reason"] for f in seen["fallbacks"]] == ["recovery_conflict", "connection_lost"]
    assert "conflict with recovery" in seen["fallbacks"][0]["error"]
    lost = seen["fallbacks"][1]["error"]
    assert "terminating connection" in lost or "server closed the connection unexpectedly" in lost, lost


@pytest.fixture(scope="module")
def write_scenario(django_db_setup, django_db_blocker):
    clusters = _primary_and_replica()
    with django_db_blocker.unblock():
        primary_url, replica_url = next(clusters)
        try:
            yield _scenario("hashinsight/tests/replica_write_scenario.py", primary_url, replica_url)
        finally:
            clusters.close()  # stops and removes both clusters


def test_a_page_that_wrote_is_not_run_again_when_the_replica_fails_but_its_dead_connection_is_closed(write_scenario):
    writes = write_scenario["writes"]
    for mode in ("insert", "cte_write"):
        seen = writes[mode]
        # One run, one row: the primary already had the write; the failed run's answer stands.
        assert (seen["runs"], seen["rows_written"], seen["status"], seen["fallbacks"]) == (1, 1, 500, 0), seen
        # … and the replica connection it lost is closed, the replica unusable until the next check.
        assert seen["replica_connection_closed"] is True and seen["marked_unusable"] is True, seen
        assert seen["logged"] == [{"event": "replica.failed_after_write", "reason": "connection_lost", "status": 500}]
    assert writes["next_page"] == {"status": 200, "replica_statements": 0, "shows": True}


def test_a_read_only_cte_on_the_primary_does_not_stop_the_retry_on_the_primary(write_scenario):
    seen = write_scenario["writes"]["cte_read"]
    assert (seen["runs"], seen["rows_written"], seen["status"], seen["body"]) == (2, 0, 200, "W-1"), seen
    assert seen["fallbacks"] == 1 and seen["replica_connection_closed"] is True
    assert seen["logged"] == [{"event": "replica.fallback", "reason": "connection_lost", "status": 503}]


def test_the_sla_reports_raw_sql_reads_the_replica_and_falls_back_to_the_primary(write_scenario):
    current, lagging, lost = (write_scenario[k] for k in ("report_current", "report_lagging", "report_replica_lost"))
    # The day rows and the per-miner downtime (both raw SQL) are read on the replica …
    assert (current["status"], current["days_sql_on"], current["summary_sql_on"]) == (200, ["replica"], ["replica"])
    assert current["offline_minutes"] == 60 and ("2026-11-02", 60) in [tuple(d) for d in current["days"]]
    # … on the primary when the replica is behind beyond REPLICA_MAX_LAG_SEC …
    assert (lagging["status"], lagging["days_sql_on"], lagging["summary_sql_on"]) == (200, ["default"], ["default"])
    # … and, cut off at the day rows, the report is run again on the primary, once.
    assert (lost["status"], lost["days_sql_on"], lost["summary_sql_on"]) == (
        200,
        ["replica", "default"],
        ["replica", "default"],
    )
    assert lost["fallbacks"] == 1
    assert current["days"] == lagging["days"] == lost["days"]
    assert current["offline_minutes"] == lagging["offline_minutes"] == lost["offline_minutes"]
