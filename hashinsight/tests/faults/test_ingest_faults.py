"""Fault matrix, ingest side (docs/OPERATIONS.md "Fault matrix"): PostgreSQL restarted during an
upload burst, Redis restarted under uploads and polls, a collector clock ±10 minutes off. Every row
the collector sent is counted in the database exactly once, and the audit chain verifies."""

import datetime as dt
import threading
import time

import pytest
import requests

from hashinsight.tests import procs
from hashinsight.tests.faults.stack import Collector, record, seed_site

pytestmark = [pytest.mark.slow, pytest.mark.fault]


def _batches(n_batches: int, miners: int, *, start: dt.datetime) -> list[list[dict]]:
    """Distinct (miner, timestamp) samples: batch i holds every miner at start + i seconds."""
    return [[record(f"FLT_{m:04d}", start + dt.timedelta(seconds=i)) for m in range(miners)] for i in range(n_batches)]


def _raw_rows(stack, site: str) -> int:
    return stack.pg.scalar(
        "SELECT count(*) FROM telemetry_raw r JOIN tenants_site s ON s.id = r.site_id WHERE s.code = %s", [site]
    )


def _burst_through_pg_restart(stack, *, site: str, n_batches: int, miners: int, restarts: int, down_sec: float):
    token = seed_site(stack, site)
    web = stack.gunicorn()
    collector = Collector(web.port, token, site)
    batches = _batches(n_batches, miners, start=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30))
    sent = threading.Event()

    def burst():
        for i, batch in enumerate(batches):
            collector.send(batch)
            time.sleep(0.05)
            if i == len(batches) - 1:
                sent.set()

    thread = threading.Thread(target=burst)
    thread.start()
    for _ in range(restarts):
        time.sleep(0.6)
        stack.pg.stop("immediate")  # a crash: recovery from WAL on start
        answered = len(collector.answers)
        time.sleep(down_sec)
        # Down until one upload was sent and answered wholly inside the outage (after the one in flight
        # at the crash): on a loaded box one upload can outlast `down_sec` without reaching the database.
        procs.wait_until(
            lambda n=answered: len(collector.answers) >= n + 2 or sent.is_set(), what="an upload while down"
        )
        stack.pg.start()
    thread.join(timeout=300)
    assert sent.is_set()
    failures = [a for a in collector.answers if a != 200]
    assert failures, "the restart fell between two uploads: nothing was exercised"
    # Every upload is answered, even while PostgreSQL is down: 503 SERVICE_UNAVAILABLE + Retry-After
    # (Collector.send checks both), never a dropped connection or a 500.
    assert set(failures) == {503}, collector.answers
    collector.replay()
    assert _raw_rows(stack, site) == n_batches * miners  # nothing lost
    # The collector's spool may send a batch again whose first answer it never saw: no row doubles.
    # PostgreSQL is back: each first re-send is answered 200 (a worker whose connection died with the
    # old server reconnects on its first query, CONN_HEALTH_CHECKS), none retried.
    answered = len(collector.answers)
    for batch in batches:
        answer = collector.send(batch)
        assert answer and answer["duplicates"] == miners, (answer, collector.answers[answered:])
    assert set(collector.answers[answered:]) == {200}
    assert _raw_rows(stack, site) == n_batches * miners
    accepted = stack.pg.scalar(
        "SELECT sum(accepted) FROM telemetry_ingestbatch b JOIN tenants_collector c ON c.id = b.collector_id "
        "JOIN tenants_site s ON s.id = c.site_id WHERE s.code = %s",
        [site],
    )
    assert accepted == n_batches * miners
    stack.verify_audit_chain()
    return collector


def test_postgresql_restarted_during_an_upload_burst_loses_and_doubles_nothing(stack):
    collector = _burst_through_pg_restart(stack, site="F-PG", n_batches=60, miners=20, restarts=1, down_sec=1.0)
    assert 503 in collector.answers  # the honest answer: retry later (not 400, not a silent 200)


@pytest.mark.soak
def test_postgresql_restarted_five_times_under_a_long_burst(stack):
    _burst_through_pg_restart(stack, site="F-PG-SOAK", n_batches=600, miners=100, restarts=5, down_sec=3.0)


def test_a_request_read_its_session_while_postgresql_is_down_is_answered_503(stack):
    """The session and the signed-in user are read by middleware, before any API view and its
    exception handler: with PostgreSQL down that read fails there, and the error page answers a
    retryable 503 + Retry-After (JSON under /api/, a page elsewhere), not 500."""
    web = stack.gunicorn()
    cookies = {"sessionid": "x" * 32}  # any session key: looking it up needs the database
    stack.pg.stop("immediate")
    try:
        api = requests.get(f"http://127.0.0.1:{web.port}/api/miners", cookies=cookies, timeout=15)
        page = requests.get(f"http://127.0.0.1:{web.port}/portal/", cookies=cookies, timeout=15)
    finally:
        stack.pg.start()
    assert api.status_code == 503, api.text[:300]
    assert api.json()["error_code"] == "SERVICE_UNAVAILABLE" and api.headers["Retry-After"] == "5"
    assert page.status_code == 503 and page.headers["Retry-After"] == "5", page.text[:300]
    # And once it is back the same request is an ordinary refusal of an unknown session, not a 5xx.
    assert requests.get(f"http://127.0.0.1:{web.port}/api/miners", cookies=cookies, timeout=15).status_code in (
        401,
        403,
    )


def _polls_and_uploads_through_redis_restart(stack, *, site: str, seconds: float, down_sec: float):
    token = seed_site(stack, site)
    web = stack.gunicorn(COLLECTOR_POLL_RATE="120/min", COLLECTOR_UPLOAD_RATE="600/min")
    collector = Collector(web.port, token, site)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    polls, stop, sent = [], threading.Event(), []

    def traffic():
        i = 0
        while not stop.is_set():
            batch = [record(f"FLR_{m:03d}", start + dt.timedelta(seconds=i)) for m in range(10)]
            sent.append(batch)
            collector.send(batch)
            polls.append(collector.poll())
            i += 1
            time.sleep(0.05)

    thread = threading.Thread(target=traffic)
    thread.start()
    time.sleep(seconds / 3)
    stack.redis.restart(down_sec=down_sec)
    time.sleep(seconds * 2 / 3)
    stop.set()
    thread.join(timeout=60)
    # Every answer was a success or retryable (Collector.send/poll assert it); after the restart both work.
    assert collector.answers[-1] == 200 and polls[-1] in (200, 204), (collector.answers[-5:], polls[-5:])
    collector.replay()
    assert _raw_rows(stack, site) == sum(len(b) for b in sent)
    # Throttles count in the new Redis again: a burst over the poll rate gets 429 RATE_LIMITED.
    answers = [collector.poll() for _ in range(250)]  # over two fixed windows at most: one holds > 120
    assert 429 in answers
    stack.verify_audit_chain()
    return collector, polls


def test_redis_restarted_under_uploads_and_polls_both_keep_working_or_fail_retryably(stack):
    collector, polls = _polls_and_uploads_through_redis_restart(stack, site="F-REDIS", seconds=6, down_sec=1.0)
    assert len(collector.answers) > 20 and len(polls) > 20


@pytest.mark.soak
def test_redis_restarted_under_a_minute_of_traffic(stack):
    _polls_and_uploads_through_redis_restart(stack, site="F-REDIS-SOAK", seconds=60, down_sec=5.0)


@pytest.mark.parametrize("skew_min", [-10, +10])
def test_a_collector_clock_ten_minutes_off_is_answered_as_spec_5_says(stack, skew_min):
    """SPEC §5: a sample more than TELEMETRY_MAX_FUTURE_SEC (300 s) ahead of the server is refused
    (FUTURE_TIMESTAMP, counted and named per record); a sample 10 minutes behind is accepted."""
    site = f"F-SKEW{'P' if skew_min > 0 else 'M'}"
    token = seed_site(stack, site)
    web = stack.gunicorn()
    collector = Collector(web.port, token, site)
    ts = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=skew_min)
    body = collector.send([record(f"SKW_{m}", ts) for m in range(5)])
    if skew_min < 0:
        assert (body["accepted"], body["rejected"]) == (5, 0)
        assert _raw_rows(stack, site) == 5
        assert collector.send([record(f"SKW_{m}", ts) for m in range(5)])["duplicates"] == 5
    else:
        assert (body["accepted"], body["rejected"]) == (0, 5)
        assert {e.get("code") or e.get("error_code") for e in body["errors"]} == {"FUTURE_TIMESTAMP"}, body["errors"]
        assert _raw_rows(stack, site) == 0
    assert _raw_rows(stack, site) == (5 if skew_min < 0 else 0)
    requests.get(f"http://127.0.0.1:{web.port}/alive", timeout=5).raise_for_status()
    stack.verify_audit_chain()
