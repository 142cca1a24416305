"""The simulated farm (verification.fleet) against the collector's real bytes, and simulate_fleet
uploading through the real HTTP stack."""

import datetime as dt
import gzip
import itertools
import json
import re
import statistics

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import include, path

from audit.services import Actor
from telemetry import urls_edge
from telemetry.models import IngestBatch, TelemetryLive, TelemetryRaw
from telemetry.tests.test_captures import CAPTURES
from tenants.models import CollectorToken
from tenants.site_identity import site_alias_add
from tests.factories import CollectorFactory, MinerFactory, SiteFactory, TenantFactory
from verification.fleet import LEGACY_PATH, RECORD_KEYS, V1_PATH, Fleet, MinerSpec, Schedule, virtual_cycles
from verification.server import LocalServer
from verification.uplink import Spool, Uplink, build_chunks, records_of

T0 = dt.datetime(2026, 11, 24, 16, 40, 59)
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")


def capture_records(name: str) -> list[dict]:
    return records_of((CAPTURES / f"{name}.body").read_bytes())


def types_of(record: dict) -> list[tuple[str, str]]:
    return [(k, type(v).__name__) for k, v in record.items()]


def test_online_records_have_the_captured_keys_order_and_types():
    captured = next(r for r in capture_records("01-legacy-upload-raw") if r["online"])
    ours = Fleet("SITE-ACC", 20, seed=1, string_share=0, offline_share=0).cycle(T0, "raw")
    assert list(captured) == list(RECORD_KEYS)
    for record in ours:
        assert types_of(record) == types_of(captured)
        assert all(isinstance(t, int) for t in record["temperature_chips"] + record["fan_speeds"])


def test_offline_record_matches_the_captured_offline_record():
    captured = next(r for r in capture_records("01-legacy-upload-raw") if not r["online"])
    fleet = Fleet("SITE-ACC", 1, seed=1, offline_share=0)
    fleet.miners[0].outage = (0, 600, 7200)
    (ours,) = fleet.cycle(T0, "raw")
    assert types_of(ours) == types_of(captured)
    same = {k: v for k, v in captured.items() if k not in ("miner_id", "timestamp", "miner_key")}
    assert {k: ours[k] for k in same} == same
    captured_latest = next(r for r in capture_records("04-v1-upload-envelope-latest") if not r["online"])
    fleet.miners[0].skip_until = None
    (latest,) = fleet.cycle(T0 + dt.timedelta(minutes=1), "latest")
    assert latest["error_message"] == captured_latest["error_message"]  # the latest cycle's 1.5 s timeout


def test_values_look_like_a_healthy_s21_with_counters_mixed_in():
    records = Fleet("SITE-ACC", 200, seed=5, string_share=0, offline_share=0, heating_share=0).cycle(T0, "raw")
    for r in records:
        assert TS.match(r["timestamp"])
        assert 190_000 < r["hashrate_5s_ghs"] < 212_000 and 190_000 < r["hashrate_ghs"] < 212_000
        chips, fans = r["temperature_chips"], r["fan_speeds"]
        assert chips[0] == 3 and fans[0] == 4  # temp_num and fan_num picked up by the collector
        assert r["temperature_max"] == max(chips) == chips[-1]
        assert r["temperature_avg"] == pytest.approx(statistics.mean(chips))
        assert r["temperature_max"] - r["temperature_avg"] > 10  # the counter drags the mean down
        assert all(2500 < f < 6000 for f in fans[1:])
        assert r["frequency_avg"] == 490.0 and r["power_consumption"] == 0.0 and r["firmware_version"] == ""
        assert r["rejected_shares"] < r["accepted_shares"] and len(r["miner_key"]) == 26 and r["miner_key"].islower()
    assert len({r["miner_id"] for r in records}) == 200


def test_old_bmminer_sends_the_5s_hashrate_as_a_string():
    records = Fleet("SITE-ACC", 10, seed=1, string_share=1.0, offline_share=0).cycle(T0, "raw")
    assert all(isinstance(r["hashrate_5s_ghs"], str) and float(r["hashrate_5s_ghs"]) > 190_000 for r in records)


def test_latest_cycles_blank_the_pool_fields_raw_cycles_fill_them():
    fleet = Fleet("SITE-ACC", 30, seed=2, offline_share=0)
    raw, latest = fleet.cycle(T0, "raw"), fleet.cycle(T0 + dt.timedelta(seconds=30), "latest")
    assert all(
        r["pool_url"].startswith("stratum+tcp://") and r["worker_name"] == f"farm1.{r['miner_id'].lower()}" for r in raw
    )
    assert all(r["pool_url"] == "" and r["worker_name"] == "" for r in latest)
    assert list(latest[0]) == list(RECORD_KEYS)


def test_latest_cycles_cover_a_rolling_window_of_the_fleet():
    fleet = Fleet("SITE-ACC", 5, seed=2, offline_share=0, latest_max_miners=2)
    windows = [
        sorted(r["miner_id"] for r in fleet.cycle(T0 + dt.timedelta(seconds=10 * k), "latest")) for k in range(3)
    ]
    assert windows == [["S21_0001", "S21_0002"], ["S21_0003", "S21_0004"], ["S21_0001", "S21_0005"]]


def test_an_offline_miner_is_reported_once_then_absent_while_backed_off():
    fleet = Fleet("SITE-ACC", 3, seed=4, offline_share=0, heating_share=0)
    fleet.miners[1].outage = (0, 900, 7200)  # down for the first 15 minutes
    seen = []
    for at, mode in virtual_cycles(T0, T0 + dt.timedelta(minutes=20), raw_interval=10, latest_interval=5):
        for r in fleet.cycle(at, mode):
            if r["miner_id"] == "S21_0002":
                seen.append(((at - T0).total_seconds(), r["online"], r["error_message"]))
    down = [(t, msg) for t, online, msg in seen if not online]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(down)]
    assert gaps == [30, 60, 120, 240, 300]  # 30 s doubling to 300 s; absent in between
    assert all(msg.startswith("Connection failed (protocol=cgminer, timeout=") for _, msg in down)
    back = [t for t, online, _ in seen if online]
    assert back and back[0] >= 900  # online again only once the outage is over
    assert all(b - a <= 10 for a, b in itertools.pairwise(back))  # and then in every cycle again


def test_a_heating_miner_climbs_and_the_rest_stay_put():
    fleet = Fleet("SITE-ACC", 4, seed=6, offline_share=0, heating_share=0)
    fleet.miners[0].heating = (0, 1.0)  # +1 °C per minute
    first = {r["miner_id"]: r["temperature_max"] for r in fleet.cycle(T0, "raw")}
    later = {r["miner_id"]: r["temperature_max"] for r in fleet.cycle(T0 + dt.timedelta(minutes=20), "raw")}
    assert later["S21_0001"] - first["S21_0001"] >= 17
    assert all(abs(later[m] - first[m]) <= 2 for m in first if m != "S21_0001")
    hot = {r["miner_id"]: r["temperature_max"] for r in fleet.cycle(T0 + dt.timedelta(hours=2), "raw")}
    assert hot["S21_0001"] == 97  # stock firmware ignores the edge's disable: it sits at its cut-off


def test_the_same_seed_replays_the_same_fleet_and_another_seed_does_not():
    def play(seed, ids=None):
        fleet = Fleet("SITE-ACC", ids or 50, seed=seed)
        return [fleet.cycle(at, mode) for at, mode in virtual_cycles(T0, T0 + dt.timedelta(minutes=10))]

    assert play(9) == play(9)
    assert play(9) != play(10)
    other_ids = [MinerSpec(f"X_{n:04d}") for n in range(1, 51)]

    def strip(cycles):
        return [
            [{k: v for k, v in r.items() if k not in ("miner_id", "miner_key", "worker_name")} for r in c]
            for c in cycles
        ]

    assert strip(play(9)) == strip(play(9, other_ids))  # same figures under other ids


def test_the_schedule_alternates_raw_and_latest_like_the_packaged_app():
    cycles = [((at - T0).total_seconds(), mode) for at, mode in virtual_cycles(T0, T0 + dt.timedelta(seconds=150))]
    assert cycles == [(0, "raw"), (30, "latest"), (60, "raw"), (90, "latest"), (120, "raw")]
    same = Schedule(60, 60)
    modes = []
    for _ in range(3):
        at, mode = same.due()
        modes.append(mode)
        same.done(mode, at)
    assert modes == ["raw", "raw", "raw"]  # a raw cycle pushes the next latest past the next raw


def test_bodies_are_gzip_lists_or_envelopes_as_the_collector_sends_them():
    records = Fleet("SITE-ACC", 25, seed=1).cycle(T0, "raw")
    legacy = build_chunks(records, mode="raw", api_mode="legacy", site_code="SITE-ACC", device_id="d", batch_size=10)
    assert [c.records for c in legacy] == [10, 10, 5] and {c.path for c in legacy} == {LEGACY_PATH}
    assert legacy[0].body[:2] == b"\x1f\x8b" and sum((records_of(c.body) for c in legacy), []) == records
    assert gzip.decompress(legacy[0].body).startswith(b'[{"miner_id": "')  # Python's default separators
    (v1,) = build_chunks(records, mode="latest", api_mode="v1", site_code="SITE-ACC", device_id="d", sent_at=T0)
    envelope = json.loads(gzip.decompress(v1.body))
    captured = json.loads(gzip.decompress((CAPTURES / "03-v1-upload-envelope-raw.body").read_bytes()))
    assert list(envelope) == list(captured)
    assert (
        envelope["sent_at"] == "2026-11-24T16:40:59Z"
        and envelope["mode"] == "latest"
        and envelope["record_count"] == 25
    )
    assert envelope["source_seq_start"] == envelope["source_seq_end"] == 0 and v1.path == V1_PATH
    (auto,) = build_chunks(records, mode="raw", api_mode="auto", site_code="SITE-ACC", device_id="d")
    assert auto.path == V1_PATH and json.loads(gzip.decompress(auto.body)) == records  # bare list on the v1 path


def test_upload_headers_are_the_captured_ones():
    captured = json.loads((CAPTURES / "01-legacy-upload-raw.request.json").read_text())["headers"]
    ours = Uplink("http://x", token="tok", site_code="SITE-ACC", device_id="dev").headers("raw")
    expected = {k: v.replace("{{COLLECTOR_TOKEN}}", "tok") for k, v in captured.items() if k in ours}
    assert set(ours) == {
        "X-Collector-Key",
        "Authorization",
        "X-Site-ID",
        "Content-Type",
        "X-Device-ID",
        "X-Zone-ID",
        "X-Upload-Mode",
        "Content-Encoding",
    }
    assert {k: ours[k] for k in expected} == {**expected, "X-Device-ID": "dev"}
    assert ours["X-Zone-ID"] == ""


def test_the_spool_replays_one_chunk_per_interval_oldest_first_and_gives_up():
    spool = Spool(retry_interval=300, per_tick=1, max_retries=2)
    a, b = object(), object()
    spool.add(a)
    spool.add(b)
    assert spool.due(0) == []  # the first replay comes ≥ 300 s after start
    assert spool.due(100) == []
    assert spool.due(300) == [a]
    spool.result(a, ok=False)
    assert spool.due(500) == [] and spool.due(600) == [a]
    spool.result(a, ok=False)  # second failed replay: given up
    assert spool.given_up == 1 and spool.due(900) == [b]
    spool.result(b, ok=True)
    assert len(spool) == 0


# --- simulate_fleet through the real HTTP stack -----------------------------------------------------


@pytest.fixture
def farm(db):
    site = SiteFactory(code="SITE-SIM")
    tenant = TenantFactory()
    collector = CollectorFactory(site=site, name="edge-sim")
    miners = [MinerFactory(site=site, tenant=tenant, miner_id=f"S21_{n:04d}") for n in range(1, 13)]
    return site, collector, miners


def test_simulate_fleet_uploads_through_http_and_the_data_lands(farm, capsys):
    site, collector, miners = farm
    with LocalServer() as url:
        call_command(
            "simulate_fleet",
            site=["SITE-SIM"],
            create_token=True,
            url=url,
            interval=0.2,
            cycles="3",
            miners=10,
            batch_size=4,
            offline_share=0,
        )
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if " SITE-SIM #" in line]
    assert len(lines) == 3 and " raw " in lines[0] and " latest " in lines[1]
    assert all(
        "accepted=10 rejected=0 duplicates=0" in line and "chunks=3" in line and "FAILED" not in line for line in lines
    )
    assert TelemetryRaw.objects.filter(site=site).count() == 30
    live = TelemetryLive.objects.filter(site=site)
    assert live.count() == 10 and {row.miner.miner_id for row in live} == {m.miner_id for m in miners[:10]}
    assert all(row.pool_url.startswith("stratum+tcp://") for row in live)  # kept from raw, latest sent ""
    assert set(IngestBatch.objects.filter(site=site).values_list("mode", flat=True)) == {"raw", "latest"}
    token = CollectorToken.objects.get(collector=collector, label="simulate_fleet")
    assert token.revoked_at is not None  # the minted token does not outlive the run


@pytest.mark.parametrize("mode", ["legacy", "v1"])
def test_a_collector_configured_with_an_alias_as_its_site_id_uploads_polls_and_acks(farm, capsys, mode):
    """The switch-over case (issue 15): the farm's collector keeps its configured site_id, which is
    only an alias of the site here. X-Site-ID (and the v1 envelope's site_id) carry it, and the
    commands it is handed must carry it too, or it rejects them (SITE_MISMATCH, protocol §3.3)."""
    from control.models import CommandState
    from control.services.creation import command_create

    site, _, miners = farm
    site_alias_add(actor=Actor.system("test"), site=site, value="site_001")
    queued = command_create(
        actor=Actor.system("test"), user=None, miner=miners[0], command_type="set_fan", params={"speed": 90}
    )
    with LocalServer() as url:
        call_command(
            "simulate_fleet",
            site=["site_001"],
            create_token=True,
            url=url,
            interval=0.5,
            cycles="2",
            mode=mode,
            command_mode=mode,
            offline_share=0,
            commands=True,
            command_poll_interval=0.1,
        )
    out = capsys.readouterr().out
    assert "FAILED" not in out and out.count("accepted=12 rejected=0") == 2
    assert TelemetryRaw.objects.filter(site=site).count() == 24
    assert set(IngestBatch.objects.filter(site=site).values_list("endpoint", flat=True)) == {mode}
    assert "SITE-SIM commands=1 completed=1" in out
    queued.refresh_from_db()
    assert queued.state == CommandState.ACKED and queued.ack_payload["result_message"] == "Fan speed set to 90"
    assert queued.ack_payload["site_id"] == "site_001"


@override_settings(ROOT_URLCONF=__name__)
def test_auto_mode_falls_back_to_the_legacy_path_when_v1_is_missing(farm, capsys):
    site, _, _ = farm
    with LocalServer() as url:
        call_command(
            "simulate_fleet",
            site=["SITE-SIM"],
            create_token=True,
            url=url,
            interval=0.2,
            cycles="1",
            mode="auto",
            offline_share=0,
        )
    assert "accepted=12" in capsys.readouterr().out
    assert list(IngestBatch.objects.filter(site=site).values_list("endpoint", flat=True)) == ["legacy"]


def test_a_refused_upload_is_spooled_and_reported(farm, capsys):
    with LocalServer() as url:
        call_command(
            "simulate_fleet",
            site=["SITE-SIM"],
            token="hic_not-a-token",
            url=url,
            interval=0.2,
            cycles="1",
            offline_share=0,
        )
    out = capsys.readouterr().out
    assert "FAILED=1 (401" in out and "spool=1" in out and "SITE-SIM: 1 cycles, spool 1 pending" in out


# A legacy-only cloud: the v1 path answers 404 (used by the auto-mode test through ROOT_URLCONF).
urlpatterns = [path("", include([p for p in urls_edge.urlpatterns if "v1" not in str(p.pattern)]))]


def test_simulate_fleet_with_commands_polls_executes_and_acks(farm, capsys):
    from audit.services import Actor
    from control.models import Command, CommandState
    from control.services.creation import command_create

    site, _, miners = farm
    queued = command_create(
        actor=Actor.system("test"), user=None, miner=miners[0], command_type="set_fan", params={"speed": 90}
    )
    with LocalServer() as url:
        call_command(
            "simulate_fleet",
            site=["SITE-SIM"],
            create_token=True,
            url=url,
            interval=0.5,
            cycles="2",
            offline_share=0,
            commands=True,
            command_poll_interval=0.1,
        )
    out = capsys.readouterr().out
    assert "SITE-SIM commands=1 completed=1" in out
    queued.refresh_from_db()
    assert queued.state == CommandState.ACKED and queued.ack_payload["result_message"] == "Fan speed set to 90"
    assert queued.ack_payload["before"]["fan_speeds"] != queued.ack_payload["after"]["fan_speeds"]
    assert Command.objects.count() == 1
