"""The registration-cap alert (issue 18): uploads that name more unknown miners than the cap lets
register raise ONE site alert, through the collector-health beat job reading the upload receipts."""

import pytest

from hosting.models import Alert, AlertState
from hosting.services.alerts import alert_resolve
from hosting.services.alerts_registration import REGISTRATION_CAPPED, registration_capped_scan
from hosting.tasks import collectors_dark_task
from telemetry.tests.ingest_fixtures import CAPTURE_NOW, gz, post, record
from tenants.models import Miner

pytestmark = pytest.mark.django_db


def phantoms(prefix: str, n: int, minute: int = 45) -> bytes:
    return gz([record(f"{prefix}_{i:05d}", CAPTURE_NOW.replace(minute=minute)) for i in range(n)])


def test_refused_registrations_raise_one_alert_per_site(client, edge, settings):
    settings.MINER_AUTO_REGISTER_MAX_PER_SITE = 10
    for prefix in ("A", "B", "C"):
        assert post(client, edge, phantoms(prefix, 8)).status_code == 200
    assert Miner.objects.filter(site=edge.site).count() == 10

    assert collectors_dark_task()["registration_capped"] == {"sites": 1, "raised": 1}
    assert registration_capped_scan() == {"sites": 1, "raised": 0}  # live already: no second alert
    (alert,) = Alert.objects.filter(kind=REGISTRATION_CAPPED)
    assert (alert.site_id, alert.tenant_id, alert.miner_id, alert.state) == (edge.site.pk, None, None, "firing")
    assert alert.details["refused_records"] == 14 and alert.details["max_per_site"] == 10


def test_a_resolved_alert_is_raised_again_only_by_later_refusals(client, edge, settings, clock):
    settings.MINER_AUTO_REGISTER_MAX_PER_SITE = 2
    post(client, edge, phantoms("A", 3))
    registration_capped_scan()
    alert_resolve(actor=None, alert=Alert.objects.get(kind=REGISTRATION_CAPPED), reason="token rotated")
    clock.shift(60)
    assert registration_capped_scan()["raised"] == 0
    post(client, edge, phantoms("B", 3, minute=46))
    assert registration_capped_scan()["raised"] == 1
    assert Alert.objects.filter(kind=REGISTRATION_CAPPED, state=AlertState.FIRING).count() == 1
