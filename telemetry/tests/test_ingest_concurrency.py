"""Two collectors of one site upload overlapping data at the same instant, on real threads and
real connections (transaction=True: each thread sees only what the other committed)."""

import datetime as dt
import random

import pytest
from django.db import connection
from django.test import Client

from audit.models import AuditEvent
from audit.services import Actor
from core.tests.threads import run_threads
from telemetry.models import IngestBatch, Telemetry1m, TelemetryLive, TelemetryRaw
from telemetry.tests.ingest_fixtures import CAPTURE_NOW, gz, post, record
from tenants.services import collector_token_create
from tests.factories import CollectorFactory

pytestmark = pytest.mark.django_db(transaction=True)

MINERS, STAMPS, ROUNDS = 60, 8, 10


@pytest.fixture(autouse=True)
def _empty_partitioned_tiers():
    yield
    # flush() truncates managed tables only: the partitioned (unmanaged) tiers are emptied here.
    with connection.cursor() as cur:
        cur.execute("TRUNCATE telemetry_raw, telemetry_1m")


def test_two_collectors_of_one_site_uploading_overlapping_data_at_once_store_each_sample_once(edge):
    second = CollectorFactory(site=edge.site, name="edge-acc-2")
    _, second_token = collector_token_create(actor=Actor.system("test"), collector=second)
    answers = []

    def uploader(token: str, device: str, stamps: list[dt.datetime], seed: int):
        def run():
            records = [
                record(f"S21_{m:04d}", ts, hashrate_5s_ghs=float(m)) for ts in stamps for m in range(1, MINERS + 1)
            ]
            random.Random(seed).shuffle(records)  # the two collectors send the overlap in different orders
            response = post(Client(), edge, gz(records), token=token, device_id=device)
            assert response.status_code == 200, response.content
            answers.append(response.json())

        return run

    all_stamps = []
    for n in range(ROUNDS):  # every round both race to insert the same new samples (and, first, register the miners)
        stamps = [
            CAPTURE_NOW.replace(tzinfo=None) - dt.timedelta(minutes=60 - n * 5, seconds=10 * k) for k in range(STAMPS)
        ]
        all_stamps += stamps
        errors = run_threads(
            uploader(edge.token, "device-a", stamps[: STAMPS * 3 // 4], seed=n),
            uploader(second_token, "device-b", stamps[STAMPS // 4 :], seed=100 + n),
        )
        assert errors == []

    expected = MINERS * len(all_stamps)
    assert TelemetryRaw.objects.filter(site=edge.site).count() == expected
    assert sum(a["accepted"] for a in answers) == expected
    assert sum(a["received"] for a in answers) == sum(a["accepted"] + a["duplicates"] for a in answers)
    assert sum(Telemetry1m.objects.filter(site=edge.site).values_list("samples", flat=True)) == expected
    assert sum(Telemetry1m.objects.filter(site=edge.site).values_list("hashrate_5s_sum", flat=True)) == pytest.approx(
        len(all_stamps) * MINERS * (MINERS + 1) / 2
    )
    newest = max(all_stamps).replace(tzinfo=dt.UTC)
    assert set(TelemetryLive.objects.filter(site=edge.site).values_list("ts", flat=True)) == {newest}
    assert TelemetryLive.objects.filter(site=edge.site).count() == MINERS
    registered = AuditEvent.objects.filter(action="tenants.miner.registered", site_code=edge.site.code)
    assert sum(e.payload["count"] for e in registered) == MINERS  # each miner registered exactly once
    assert IngestBatch.objects.filter(site=edge.site).count() == 2 * ROUNDS
