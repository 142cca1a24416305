"""Real threads on real connections appending at once, and the parallel verifier, on committed
data (transaction=True: each thread's connection sees only what others committed)."""

from functools import partial

import pytest

from audit import verify
from audit.models import AuditChain, AuditEvent
from audit.services import Actor, EventSpec, audit_record, audit_record_many
from audit.tests.conftest import tamper
from core.tests.threads import run_threads

pytestmark = pytest.mark.usefixtures("transactional_db")

THREADS, APPENDS = 8, 50


def test_concurrent_appends_to_one_chain_stay_gap_free_and_unforked():
    actor = Actor.system("test.concurrency")

    def append(index):
        for n in range(APPENDS):
            if n % 10 == 9:  # some appends are small batches, as a batch command writes them
                audit_record_many(
                    actor=actor,
                    events=[
                        EventSpec("t.x.batched", "t.x", f"{index}-{n}-{k}", {"k": k}, tenant_id=1) for k in range(2)
                    ],
                )
            else:
                audit_record(
                    actor=actor, action="t.x.appended", entity_type="t.x", entity_id=f"{index}-{n}", tenant_id=1
                )

    assert run_threads(*(partial(append, i) for i in range(THREADS))) == []

    total = THREADS * APPENDS + THREADS * (APPENDS // 10)
    rows = list(AuditEvent.objects.filter(chain_key="tenant:1").order_by("seq").values_list("seq", "prev_hash", "hash"))
    assert [seq for seq, _, _ in rows] == list(range(1, total + 1))
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, len(rows)))
    assert len({prev for _, prev, _ in rows}) == total  # no two events share a predecessor: no fork
    head = AuditChain.objects.get(key="tenant:1")
    assert (head.head_seq, head.head_hash) == (total, rows[-1][2])
    assert verify.verify_chains(["tenant:1"], workers=1)[0].ok


def test_multi_chain_appends_in_opposite_order_do_not_deadlock():
    actor = Actor.system("test.deadlock")
    orders = [(1, 2, 3), (3, 2, 1)]

    def append(index):
        for n in range(40):
            audit_record_many(
                actor=actor,
                events=[EventSpec("t.x.touched", "t.x", str(n), {}, tenant_id=t) for t in orders[index % 2]],
            )

    assert run_threads(*(partial(append, i) for i in range(4))) == []
    for tenant in (1, 2, 3):
        assert list(AuditEvent.objects.filter(chain_key=f"tenant:{tenant}").values_list("seq", flat=True)) == list(
            range(1, 161)
        )
    assert all(r.ok for r in verify.verify_chains(["tenant:1", "tenant:2", "tenant:3"], workers=1))


@pytest.fixture
def small_chunks(monkeypatch):
    """Ranges of 25 events, so that a few hundred events already make several parallel jobs."""
    monkeypatch.setattr(verify, "CHUNK_EVENTS", 25)


def test_parallel_verification_matches_the_serial_walk(small_chunks):
    actor = Actor.system("test.parallel")
    for batch in range(6):
        audit_record_many(
            actor=actor,
            events=[
                EventSpec("t.x.y", "t.x", str(n), {"b": batch, "n": n}, tenant_id=t) for t in (1, 2) for n in range(20)
            ],
        )
    keys = ["tenant:1", "tenant:2"]

    serial, parallel = verify.verify_chains(keys, workers=1), verify.verify_chains(keys, workers=2)
    assert serial == parallel
    assert [(r.ok, r.events, r.first_seq, r.last_seq) for r in parallel] == [(True, 120, 1, 120), (True, 120, 1, 120)]

    t1 = {e.seq: e for e in AuditEvent.objects.filter(chain_key="tenant:1", seq__in=[25, 26, 70])}
    # seq 26 opens the second range: only the stitching between ranges can see it is missing.
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [t1[26].pk])
    tamper("UPDATE audit_auditevent SET payload = '{}' WHERE id = %s", [t1[70].pk])

    serial, parallel = verify.verify_chains(keys, workers=1), verify.verify_chains(keys, workers=2)
    assert serial == parallel
    assert [(b.event_id, b.seq) for b in parallel[0].breaks] == [
        (AuditEvent.objects.get(chain_key="tenant:1", seq=27).pk, 27),
        (t1[70].pk, 70),
    ]
    assert parallel[0].breaks[0].expected_prev_hash == t1[25].hash
    assert parallel[1].ok
