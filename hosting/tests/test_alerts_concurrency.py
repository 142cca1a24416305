"""alert_raise from real threads, each with its own connection and transaction: one live row per
key however many raise it at once (the partial unique index + ON CONFLICT, not a Python check)."""

import threading

import pytest
from django.db import connection

from audit.models import AuditEvent
from hosting.models import Alert
from hosting.services.alerts import AlertDraft, alert_raise, alert_raise_many

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


def test_concurrent_many_raises_over_overlapping_keys_make_one_row_per_key(world):
    """alert_raise_many from threads whose drafts overlap (in different orders): one row and one
    `raised` event per key, no deadlock (the INSERT takes its keys in key order)."""
    miners = world.miners_a_x + world.miners_b_x
    barrier = threading.Barrier(THREADS)
    results, errors = [], []

    def raise_many(n):
        try:
            picked = miners[n % 2 :: 1] if n % 2 else list(reversed(miners))
            drafts = [AlertDraft(kind="hot", title=f"{m.miner_id} hot", miner=m) for m in picked]
            barrier.wait()
            results.append([(a.pk, a.raised) for a in alert_raise_many(site=world.site_x, drafts=drafts)])
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=raise_many, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Alert.objects.count() == len(miners)
    assert sum(raised for got in results for _, raised in got) == len(miners)
    assert AuditEvent.objects.filter(action="hosting.alert.raised").count() == len(miners)
