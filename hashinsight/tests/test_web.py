"""Against a real gunicorn (gunicorn.conf.py, several workers) on the test database."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hashinsight.tests import procs

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

TOKEN = "scrape-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def gunicorn(django_db_setup, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gunicorn")
    server = procs.start_gunicorn(
        tmp, WEB_CONCURRENCY="3", PROMETHEUS_MULTIPROC_DIR=str(tmp / "prometheus"), METRICS_TOKEN=TOKEN
    )
    server.metrics_dir = tmp / "prometheus"
    try:
        yield server
    finally:
        procs.stop(server)


def _requests_total(text: str, route: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "http_requests_total" and sample.labels["route"] == route
    )


def test_metrics_add_up_requests_served_by_every_worker(gunicorn):
    sent = 0

    def served_by_several_workers():
        # Concurrent waves until two workers have served (a worker still booting serves nothing).
        nonlocal sent
        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(
                pool.map(lambda i: procs.http_get(gunicorn.port, f"/no-such-page-{i}").status_code, range(30))
            )
        assert statuses == [404] * 30
        sent += 30
        # One sample file per worker process that counted something.
        return len(list(gunicorn.metrics_dir.glob("counter_*.db"))) >= 2

    procs.wait_until(served_by_several_workers, interval=0.1, what="requests spread over workers")
    response = procs.http_get(gunicorn.port, "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert _requests_total(response.text, route="unmatched") == sent
    assert "http_request_duration_seconds_bucket" in response.text


def test_metrics_refuse_a_scrape_without_the_token(gunicorn):
    assert procs.http_get(gunicorn.port, "/metrics").status_code == 401
    wrong = procs.http_get(gunicorn.port, "/metrics", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401 and wrong.json()["error_code"] == "UNAUTHENTICATED"


def test_a_request_writes_one_json_log_line_with_the_request_id_it_echoes(gunicorn):
    response = procs.http_get(gunicorn.port, "/alive", headers={"X-Request-ID": "lb-7f3a.42"})
    assert response.headers["X-Request-ID"] == "lb-7f3a.42"
    fresh = procs.http_get(gunicorn.port, "/alive")
    generated = fresh.headers["X-Request-ID"]
    assert uuid.UUID(generated)

    def lines_for(request_id):
        return [r for r in procs.json_lines(gunicorn) if r.get("request_id") == request_id]

    procs.wait_until(lambda: lines_for(generated), what="log line written")
    for request_id in ("lb-7f3a.42", generated):
        (line,) = lines_for(request_id)
        assert line["event"] == "request_finished"
        assert line["code"] == 200 and line["request"] == "GET /alive"
        assert line["level"] == "info" and "timestamp" in line
