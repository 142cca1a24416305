"""What the ingest tests share: the capture site SITE-ACC with a collector token, the clock pinned
on the capture day, record and upload builders. Imported by test_ingest*.py and test_captures.py."""

import datetime as dt
import gzip
from dataclasses import dataclass

import orjson
import pytest

from audit.services import Actor
from telemetry import partitions
from tenants.models import Collector, Site, Tenant
from tenants.services import collector_token_create
from tests.factories import CollectorFactory, SiteFactory, TenantFactory

# The captures were recorded 2026-11-24 between 16:39 and 16:45 UTC (naive timestamps).
CAPTURE_NOW = dt.datetime(2026, 11, 24, 16, 46, 0, tzinfo=dt.UTC)
SETUP = Actor.system("test.setup")


@dataclass
class Edge:
    """The capture site and a collector of it, as the field collector sees them."""

    site: Site
    operator: Tenant
    collector: Collector
    token: str
    device_id: str = "ae24312b-61ed-4cd7-95f1-55c2e8d37bcd"

    def headers(
        self, *, mode: str = "raw", device_id: str | None = None, token: str | None = None, site_code: str | None = None
    ) -> dict:
        """The headers the collector sends on every telemetry POST (protocol §2.1), as test-client kwargs."""
        token = self.token if token is None else token
        return {
            "HTTP_X_COLLECTOR_KEY": token,
            "HTTP_AUTHORIZATION": f"Bearer {token}",
            "HTTP_X_SITE_ID": self.site.code if site_code is None else site_code,
            "HTTP_X_DEVICE_ID": self.device_id if device_id is None else device_id,
            "HTTP_X_ZONE_ID": "",
            "HTTP_X_UPLOAD_MODE": mode,
            "HTTP_CONTENT_ENCODING": "gzip",
            "HTTP_USER_AGENT": "python-requests/2.34.2",
        }


@pytest.fixture(autouse=True)
def _fresh_partition_cache(monkeypatch):
    # Each test starts with an empty per-process partition cache (test_fleet and
    # test_idempotency_command import this fixture too).
    monkeypatch.setattr(partitions, "_known", set())


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(CAPTURE_NOW, tick=False)
    return time_machine


@pytest.fixture
def edge(db, clock) -> Edge:
    operator = Tenant.objects.filter(is_operator=True).first() or TenantFactory(
        slug="operator", name="Operator", is_operator=True
    )
    site = SiteFactory(code="SITE-ACC", name="Acceptance farm")
    collector = CollectorFactory(site=site, name="edge-acc")
    _, token = collector_token_create(actor=SETUP, collector=collector)
    return Edge(site=site, operator=operator, collector=collector, token=token)


@pytest.fixture(params=["code", "alias"])
def capture_edge(request, edge) -> Edge:
    """The capture site as it was recorded (code SITE-ACC), and as after the switch-over: the
    site has another code and the collector's configured SITE-ACC is only an alias of it."""
    if request.param == "alias":
        aliased_site(edge)
    return edge


def aliased_site(edge: Edge, code: str = "FARM-ACC-7") -> Edge:
    from tenants.site_identity import site_alias_add

    Site.objects.filter(pk=edge.site.pk).update(code=code)  # set-up: a code issued by this project
    edge.site.refresh_from_db()
    site_alias_add(actor=SETUP, site=edge.site, value="SITE-ACC")
    return edge


def record(miner_id: str, ts: dt.datetime | str, /, **fields) -> dict:
    """A record as the collector builds it (all 22 keys, protocol §2.2), healthy S21 values."""
    stamp = ts if isinstance(ts, str) else ts.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    base = {
        "miner_id": miner_id,
        "timestamp": stamp,
        "online": True,
        "miner_key": "buvumexjv6t3c7eq3x4226pa7y",
        "hashrate_ghs": 203503.24,
        "hashrate_5s_ghs": 203988.4,
        "temperature_avg": 50.375,
        "temperature_max": 64,
        "temperature_chips": [3, 48, 62, 49, 63, 50, 64, 64],
        "fan_speeds": [4, 3500, 3544, 3545, 3540],
        "frequency_avg": 490.0,
        "accepted_shares": 1813741,
        "rejected_shares": 2720,
        "hardware_errors": 725,
        "uptime_seconds": 2558705,
        "power_consumption": 0.0,
        "efficiency": 0.0,
        "pool_url": "stratum+tcp://btc.f2pool.com:1314",
        "worker_name": f"farm1.{miner_id.lower()}",
        "firmware_version": "",
        "error_type": "",
        "error_message": "",
    }
    base.update(fields)
    return base


def gz(payload) -> bytes:
    return gzip.compress(orjson.dumps(payload))


def post(client, edge: Edge, body: bytes, *, path: str = "/api/collector/upload", **header_options):
    return client.post(path, data=body, content_type="application/octet-stream", **edge.headers(**header_options))
