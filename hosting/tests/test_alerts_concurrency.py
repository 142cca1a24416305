"""alert_raise from real threads, each with its own connection and transaction: one live row per
key however many raise it at once (the partial unique index + ON CONFLICT, not a Python check)."""

import threading

import pytest
from django.db import connection

from audit.models import AuditEvent
from hosting.models import Alert
from hosting.services.alerts import alert_raise

pytestmark = pytest.mark.django_db(transaction=True)
ROUNDS = 20
THREADS = 4


def test_threads_raising_the_same_alert_at_once_make_one_row(world):
    miner = world.miners_a_x[0]
    for round_ in range(ROUNDS):
        barrier = threading.Barrier(THREADS)
        results, errors = [], []

        def raise_it(round_=round_, barrier=barrier, results=results, errors=errors):
            try:
                barrier.wait()
                alert = alert_raise(site=world.site_x, miner=miner, kind=f"race{round_}", title="same")
                results.append((alert.pk, alert.raised))
            except Exception as exc:
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=raise_it) for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len({pk for pk, _ in results}) == 1
        assert sorted(raised for _, raised in results) == [False] * (THREADS - 1) + [True]
    assert Alert.objects.count() == ROUNDS
    assert AuditEvent.objects.filter(action="hosting.alert.raised").count() == ROUNDS
