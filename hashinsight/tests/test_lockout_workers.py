"""The login lockout holds across gunicorn workers: failures served by either of two workers count
towards one lock in the shared Redis cache, and the lock refuses the right password at both."""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector

from audit.models import AuditEvent
from conftest import PASSWORD
from hashinsight.tests import procs
from tests.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FAILURES = 8  # the lockout threshold for this server: room to see both workers fail before the lock
LOCKED = b"Too many failed login attempts"


@pytest.fixture
def gunicorn(tmp_path):
    server = procs.start_gunicorn(
        tmp_path,
        WEB_CONCURRENCY="2",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        LOGIN_LOCKOUT_FAILURES=str(FAILURES),
        # allauth's own per-IP throttle out of the way: the lock seen here is the account lockout.
        LOGIN_FAILED_RATE_LIMIT="1000/m/ip",
        LOGIN_RATE_LIMIT="1000/m/ip",
    )
    server.metrics_dir = tmp_path / "prometheus"
    try:
        yield server
    finally:
        procs.stop(server)


def post_login(port: int, email: str, password: str) -> requests.Response:
    """One sign-in attempt on fresh connections (no keep-alive), so either worker may take it."""
    base = f"http://127.0.0.1:{port}"
    page = requests.get(f"{base}/accounts/login/", headers={"Connection": "close"}, timeout=10)
    token = page.cookies["csrftoken"]  # Secure cookie: sent back by hand over plain HTTP
    return requests.post(
        f"{base}/accounts/login/",
        data={"login": email, "password": password, "csrfmiddlewaretoken": token},
        headers={"Connection": "close", "Cookie": f"csrftoken={token}"},
        allow_redirects=False,
        timeout=10,
    )


def login_posts_by_worker(metrics_dir) -> dict[str, float]:
    """POSTs to the login page each worker answered, from its own prometheus sample file."""
    counts = {}
    for path in metrics_dir.glob("counter_*.db"):
        counts[re.sub(r"\D", "", path.name)] = sum(
            s.value
            for family in MultiProcessCollector.merge([str(path)], accumulate=True)
            for s in family.samples
            if s.name == "http_requests_total" and s.labels["method"] == "POST" and s.labels["route"].endswith("login/")
        )
    return counts


def test_failed_logins_on_two_workers_lock_the_account_for_both(gunicorn):
    user = UserFactory(username="op", email="op@example.com")
    with ThreadPoolExecutor(max_workers=2) as pool:
        failed = list(pool.map(lambda _: post_login(gunicorn.port, user.email, "wrong"), range(FAILURES)))
    assert [r.status_code for r in failed] == [200] * FAILURES
    assert not any(LOCKED in r.content for r in failed[:-1])
    per_worker = login_posts_by_worker(gunicorn.metrics_dir)
    assert sum(per_worker.values()) == FAILURES
    assert len([n for n in per_worker.values() if n]) == 2, per_worker  # both workers counted failures
    refused = []

    def both_workers_refused_the_right_password():
        with ThreadPoolExecutor(max_workers=2) as pool:
            refused.extend(pool.map(lambda _: post_login(gunicorn.port, user.email, PASSWORD), range(2)))
        now = login_posts_by_worker(gunicorn.metrics_dir)
        return len([pid for pid, n in now.items() if n > per_worker.get(pid, 0)]) == 2

    procs.wait_until(both_workers_refused_the_right_password, interval=0, what="both workers asked while locked")
    assert {r.status_code for r in refused} == {200}  # never the 302 of a sign-in
    assert all(LOCKED in r.content for r in refused)
    assert AuditEvent.objects.filter(action="tenants.login.locked").count() == 1
