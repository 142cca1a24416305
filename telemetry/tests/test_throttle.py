"""Per-collector request throttling (SPEC §4, §4.1) on every collector-facing endpoint: counted per
token in the shared Redis cache, refused with 429 RATE_LIMITED and Retry-After before the view runs."""

import datetime as dt
import os
import subprocess
import sys
import threading
from types import SimpleNamespace

import orjson
import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.db import OperationalError
from prometheus_client import REGISTRY

from control.models import CommandAck
from control.tests.factories import collector_headers
from telemetry.models import IngestBatch, TelemetryRaw
from telemetry.tests.ingest_fixtures import CAPTURE_NOW, SETUP, gz, post, record
from tenants.collector_auth import CollectorPrincipal
from tenants.collector_throttle import CollectorAckThrottle, CollectorUploadThrottle
from tenants.models import Miner
from tenants.services import collector_token_create

pytestmark = pytest.mark.django_db
NOW = CAPTURE_NOW.replace(tzinfo=None)  # 16:46:00 — the start of a one-minute window
ACK_BODY = orjson.dumps(
    {"status": "completed", "result_code": 0, "result_message": "ok", "site_id": "SITE-ACC", "device_id": "dev-1"}
)


@pytest.fixture
def tight(settings):
    settings.COLLECTOR_UPLOAD_RATE = "3/min"
    settings.COLLECTOR_POLL_RATE = "3/min"
    settings.COLLECTOR_ACK_RATE = "3/min"


def upload(client, edge, miner_id="S21_0001", **options):
    return post(client, edge, gz([record(miner_id, NOW - dt.timedelta(seconds=30))]), **options)


def poll(client, edge, token=None, path="/api/edge/v1/commands/poll"):
    return client.get(path, **collector_headers(token or edge.token, edge.site.code, "dev-1"))


def ack(client, edge, wire_id="cmd-0001", path="/api/edge/v1/commands/{}/ack"):
    return client.post(
        path.format(wire_id),
        ACK_BODY,
        content_type="application/json",
        **collector_headers(edge.token, edge.site.code, "dev-1"),
    )


def assert_rate_limited(response, retry_after="60"):
    assert response.status_code == 429, response.content
    body = response.json()
    assert (body["success"], body["error_code"]) == (False, "RATE_LIMITED")
    assert response["Retry-After"] == retry_after


def _sample(**labels) -> float:
    return REGISTRY.get_sample_value("ingest_requests_total", labels) or 0.0


# --- uploads ---------------------------------------------------------------------------------------


def test_an_upload_over_the_limit_gets_429_rate_limited_and_stores_nothing(client, edge, tight):
    assert upload(client, edge).status_code == 200
    assert (
        upload(client, edge, path="/api/collector/telemetry").status_code == 200
    )  # legacy alias and v1 share one count
    assert upload(client, edge, path="/api/edge/v1/telemetry/batch").status_code == 200
    batches, rows = IngestBatch.objects.count(), TelemetryRaw.objects.count()

    assert_rate_limited(upload(client, edge, miner_id="S21_0002"))
    assert_rate_limited(upload(client, edge, miner_id="S21_0002", path="/api/edge/v1/telemetry/batch"))
    assert (IngestBatch.objects.count(), TelemetryRaw.objects.count()) == (batches, rows)
    assert not Miner.objects.filter(miner_id="S21_0002").exists()  # not even registered as unknown


def test_retry_after_counts_down_to_the_next_window(client, edge, tight, clock):
    for _ in range(3):
        upload(client, edge)
    clock.shift(45)
    assert_rate_limited(upload(client, edge), retry_after="15")
    clock.shift(15)
    assert upload(client, edge).status_code == 200


def test_another_token_of_the_same_site_is_not_affected(client, edge, tight):
    _, second = collector_token_create(actor=SETUP, collector=edge.collector, label="rotation")
    for _ in range(3):
        upload(client, edge)
    assert_rate_limited(upload(client, edge))
    assert upload(client, edge, token=second).status_code == 200


def test_a_throttled_upload_is_counted_in_the_ingest_metrics(client, edge, tight):
    refused = _sample(endpoint="legacy", status="429")
    for _ in range(4):
        upload(client, edge)
    assert _sample(endpoint="legacy", status="429") - refused == 1


def test_the_default_rates_let_the_packaged_app_at_5000_miners_through(client, edge, clock):
    # The busiest healthy minute (docs/SECURITY.md): raw cycles of 5 chunks and latest cycles of 2,
    # each every ~10 s, while a spool drains 3 chunks every 5 s; polls every 5 s, with status checks.
    for _ in range(6 * 5 + 6 * 2 + 12 * 3):
        assert upload(client, edge).status_code == 200
    for _ in range(12 + 2):
        assert poll(client, edge).status_code in (200, 204)


# --- commands and status ---------------------------------------------------------------------------


def test_a_poll_over_the_limit_gets_429_on_both_families(client, edge, tight):
    assert poll(client, edge).status_code == 204
    assert poll(client, edge, path="/api/collector/commands/pending").status_code == 200
    assert poll(client, edge, path=f"/api/collector/commands/pending/{edge.site.code}").status_code == 200
    assert_rate_limited(poll(client, edge))
    assert_rate_limited(poll(client, edge, path="/api/collector/commands/pending"))


def test_the_status_self_check_shares_the_poll_count(client, edge, tight):
    for _ in range(3):
        poll(client, edge)
    assert_rate_limited(poll(client, edge, path="/api/collector/status"))


def test_people_are_not_collector_throttled(client, edge, tight, superuser):
    for _ in range(3):
        poll(client, edge, path="/api/collector/status")
    client.force_login(superuser)
    assert [client.get("/api/collector/status").status_code for _ in range(5)] == [200] * 5


def test_a_throttled_ack_is_answered_429_and_not_recorded(client, edge, tight):
    for i in range(3):
        assert ack(client, edge, f"cmd-{i}").status_code == 200
    assert_rate_limited(ack(client, edge, "cmd-late"))
    assert_rate_limited(ack(client, edge, "cmd-late", path="/api/collector/commands/{}/result"))
    assert_rate_limited(
        client.post(
            "/api/collector/commands/ack",
            ACK_BODY,
            content_type="application/json",
            **collector_headers(edge.token, edge.site.code, "dev-1"),
        )
    )
    assert not CommandAck.objects.filter(wire_id="cmd-late").exists()


def test_polls_never_use_up_the_ack_count(client, edge, tight):
    # A refused ACK is lost for good (the collector never re-sends one): polls must not crowd it out.
    for _ in range(4):
        poll(client, edge)
    assert_rate_limited(poll(client, edge))
    assert ack(client, edge).status_code == 200


# --- shared state ----------------------------------------------------------------------------------


def _request_of(token_pk: int):
    return SimpleNamespace(user=CollectorPrincipal(token=SimpleNamespace(pk=token_pk), device_id=""))


def test_the_count_is_in_redis_and_holds_across_processes(client, edge, tight):
    """Two uploads here; a separate Python process (its own Redis connection) gets the third and
    is refused the fourth; then this process is refused too: one count, wherever it is read."""
    assert upload(client, edge).status_code == 200
    assert upload(client, edge).status_code == 200
    token_pk = edge.collector.tokens.get().pk
    keys = redis.Redis.from_url(settings.REDIS_URL).keys(f"*throttle:collector_upload:{token_pk}:*")
    assert len(keys) == 1

    script = (
        "import django, sys; django.setup()\n"
        "from types import SimpleNamespace\n"
        "from tenants.collector_auth import CollectorPrincipal\n"
        "from tenants.collector_throttle import CollectorUploadThrottle\n"
        "CollectorUploadThrottle.timer = lambda self: float(sys.argv[2])  # the parent's pinned clock\n"
        "req = SimpleNamespace(user=CollectorPrincipal(token=SimpleNamespace(pk=int(sys.argv[1])), device_id=''))\n"
        "print(CollectorUploadThrottle().allow_request(req, None), CollectorUploadThrottle().allow_request(req, None))\n"
    )
    env = {
        **os.environ,
        "COLLECTOR_UPLOAD_RATE": "3/min",
        "DJANGO_SETTINGS_MODULE": "hashinsight.settings",
        "TESTING": "1",
    }
    out = subprocess.run(
        [sys.executable, "-c", script, str(token_pk), str(CAPTURE_NOW.timestamp() + 1)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "True False"  # the third of three, then over

    assert_rate_limited(upload(client, edge))


@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_requests_of_one_token_are_all_counted(settings, attempt):
    """Threads, each with its own cache client and connection pool, hammer one token's window at once: exactly `limit` get through. A read-then-write counter would let more pass."""
    settings.COLLECTOR_ACK_RATE = "50/min"
    token_pk, fixed_now = 10_000 + attempt, CAPTURE_NOW.timestamp()
    threads, per_thread = 8, 20
    barrier, allowed, lock = threading.Barrier(threads), [], threading.Lock()

    def hammer():
        cache = caches.create_connection("default")  # its own client and connection pool
        barrier.wait()
        ok = 0
        for _ in range(per_thread):
            throttle = CollectorAckThrottle()
            throttle.cache, throttle.timer = cache, lambda: fixed_now
            ok += throttle.allow_request(_request_of(token_pk), None)
        with lock:
            allowed.append(ok)
        cache.close()

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    assert len(allowed) == threads
    assert sum(allowed) == 50


def test_a_redis_outage_lets_collectors_through(client, edge, tight, monkeypatch):
    def down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("redis is down")

    monkeypatch.setattr(CollectorUploadThrottle, "_count", down)
    assert [upload(client, edge).status_code for _ in range(5)] == [200] * 5


def test_polls_answered_503_while_the_database_is_down_are_not_counted(client, edge, tight, clock, monkeypatch):
    """With its token cached the collector passes authentication and the throttle without the
    database; its retries through an outage (503) are given back, so it is not throttled after."""
    import control.api_edge

    assert poll(client, edge).status_code == 204  # counted: 1 of 3, and the token now cached

    def down(**kwargs):
        raise OperationalError("the database system is shutting down")

    with monkeypatch.context() as patch:
        patch.setattr(control.api_edge, "command_poll_lease", down)
        answers = [poll(client, edge) for _ in range(5)]
    assert [(r.status_code, r.json()["error_code"]) for r in answers] == [(503, "SERVICE_UNAVAILABLE")] * 5
    assert [poll(client, edge).status_code for _ in range(2)] == [204, 204]  # 2 and 3 of 3
    assert_rate_limited(poll(client, edge))
