"""once_per_interval with real threads, real Redis and real PostgreSQL sessions."""

import threading
import time

import pytest
from django.core.cache import cache
from django.db import connection
from prometheus_client import REGISTRY

from core.periodic import once_per_interval
from hashinsight.tests import procs

pytestmark = pytest.mark.django_db


def _count(job, outcome):
    return REGISTRY.get_sample_value("periodic_runs_total", {"job": job, "outcome": outcome}) or 0


def _in_thread(fn):
    def run():
        try:
            procs.connect_as_worker()  # the code under test is a worker's: PostgreSQL itself, not PgBouncer
            fn()
        finally:
            connection.close()  # each thread opened its own PostgreSQL session

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_concurrent_calls_run_the_body_once_per_interval():
    job, callers = "tests.threads", 8
    runs = []

    @once_per_interval(job, 60)
    def body():
        runs.append(threading.get_ident())
        time.sleep(0.05)

    skipped_before = _count(job, "skipped")
    for round_no in range(5):  # repeated: a race shows up as a round with two runs
        cache.delete(f"periodic:{job}")  # a new interval
        barrier = threading.Barrier(callers)
        threads = [_in_thread(lambda b=barrier: (b.wait(timeout=10), body())) for _ in range(callers)]
        for thread in threads:
            thread.join(timeout=30)
        assert len(runs) == round_no + 1
    assert _count(job, "skipped") - skipped_before == 5 * (callers - 1)


def test_the_skip_is_logged_with_the_job_name(caplog):
    @once_per_interval("tests.logged", 60)
    def body():
        return "done"

    assert body() == "done"
    assert body() is None
    events = [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("job") == "tests.logged"]
    assert [e["event"] for e in events] == ["periodic.run", "periodic.skipped"]
    assert events[1]["reason"] == "already ran in this interval"


def test_the_slot_expires_before_the_next_interval():
    runs = []

    @once_per_interval("tests.short", 2)  # slot held 1 s: a beat's next send (2 s on) is never refused
    def body():
        runs.append(1)

    body()
    body()
    assert len(runs) == 1
    time.sleep(1.2)
    body()
    assert len(runs) == 2


def test_a_run_that_outlasts_its_slot_is_not_joined_by_the_next_interval(caplog):
    runs, started, release = [], threading.Event(), threading.Event()

    @once_per_interval("tests.long", 60)
    def body():
        runs.append(1)
        started.set()
        release.wait(timeout=10)

    first = _in_thread(body)
    try:
        assert started.wait(timeout=10)
        cache.delete("periodic:tests.long")  # the slot expired while the run goes on
        body()  # the next interval's delivery: the advisory lock is still held
        assert len(runs) == 1
        assert caplog.records[-1].msg["reason"] == "previous run still in progress"
    finally:
        release.set()
        first.join(timeout=30)
    cache.delete("periodic:tests.long")
    body()  # the first run ended and released the lock
    assert len(runs) == 2


def test_a_failed_run_releases_the_lock_but_keeps_its_slot():
    calls = []

    @once_per_interval("tests.failing", 60)
    def body():
        calls.append(1)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        body()
    assert body() is None  # same interval: not run again
    cache.delete("periodic:tests.failing")
    with pytest.raises(RuntimeError):
        body()  # next interval: the lock was released, so it runs
    assert len(calls) == 2
