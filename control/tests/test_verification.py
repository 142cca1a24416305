import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from control.models import CommandState, CommandType, Outcome
from control.services.ack import command_ack
from control.services.poll import command_poll_lease
from control.services.verification import commands_verify_due
from control.tests.factories import ControlCommandFactory, principal_for
from telemetry.models import TelemetryRaw
from telemetry.partitions import ensure_partition

pytestmark = pytest.mark.django_db
NOMINAL_GHS = 200_000.0  # MinerFactory: 200 TH/s


def acked(world, kind, status="completed", error_class="", params=None, before=None):
    miner = world.miners_a_x[0]
    cmd = ControlCommandFactory(miner=miner, command_type=kind, params=params or {})
    principal = principal_for(world.collector_x)
    (wire,) = command_poll_lease(principal=principal, limit=1)
    payload = {
        "status": status,
        "result_code": {"completed": 0, "failed": 1, "skipped": 2}[status],
        "result_message": status,
    }
    payload |= {"error_class": error_class} if error_class else {}
    payload |= {"before": before} if before else {}
    command_ack(principal=principal, wire_id=wire["command_id"], payload=payload, endpoint="v1")
    cmd.refresh_from_db()
    return cmd


def sample(cmd, after_sec, **fields):
    ts = cmd.acked_at + dt.timedelta(seconds=after_sec)
    ensure_partition("telemetry_raw", ts.date())
    row = {
        "online": True,
        "hashrate_5s_ghs": NOMINAL_GHS,
        "uptime_seconds": 86400,
        "fan_speeds": [4, 4100],
        "pool_url": "",
    } | fields
    TelemetryRaw.objects.create(
        site_id=cmd.site_id, miner_id=cmd.miner_id, ts=ts, tenant_id=cmd.tenant_id, received_at=ts, batch_id=1, **row
    )


def verify_at(cmd, after_sec):
    with time_machine.travel(cmd.acked_at + dt.timedelta(seconds=after_sec), tick=False):
        commands_verify_due()
    cmd.refresh_from_db()
    return cmd.state, cmd.outcome, cmd.error_code


def test_disable_is_verified_when_hashrate_falls_under_5_percent(world):
    cmd = acked(world, CommandType.DISABLE_HASHING)
    sample(cmd, 20, hashrate_5s_ghs=0.06 * NOMINAL_GHS)
    assert verify_at(cmd, 30) == (CommandState.ACKED, "", "")  # not yet, window open
    sample(cmd, 40, hashrate_5s_ghs=0.01 * NOMINAL_GHS)
    assert verify_at(cmd, 60) == (CommandState.SUCCEEDED, Outcome.VERIFIED, "")


def test_enable_never_seen_while_the_miner_reports_fails_verification(world):
    cmd = acked(world, CommandType.ENABLE_HASHING)
    sample(cmd, 30, hashrate_5s_ghs=0.2 * NOMINAL_GHS)
    assert verify_at(cmd, 599)[0] == CommandState.ACKED
    assert verify_at(cmd, 601) == (CommandState.FAILED, Outcome.VERIFICATION_FAILED, "VERIFICATION_FAILED")


def test_a_silent_miner_after_the_window_is_unverified_not_failed(world):
    cmd = acked(world, CommandType.SET_FREQUENCY, params={"frequency": 400})
    assert verify_at(cmd, 601) == (CommandState.SUCCEEDED, Outcome.UNVERIFIED, "")


def test_set_frequency_within_5_percent_is_verified(world):
    cmd = acked(world, CommandType.SET_FREQUENCY, params={"frequency": 400})
    sample(cmd, 30, frequency_avg=421.0)
    assert verify_at(cmd, 40)[0] == CommandState.ACKED
    sample(cmd, 60, frequency_avg=395.0)
    assert verify_at(cmd, 70) == (CommandState.SUCCEEDED, Outcome.VERIFIED, "")


def test_failed_restart_ack_is_verified_despite_ack_when_the_miner_rebooted(world):
    cmd = acked(world, CommandType.REBOOT, status="failed", error_class="execution_failed")
    sample(cmd, 60, uptime_seconds=30, hashrate_5s_ghs=0.1 * NOMINAL_GHS)  # rebooted, still warming up
    assert verify_at(cmd, 70)[0] == CommandState.ACKED
    sample(cmd, 300, uptime_seconds=270, hashrate_5s_ghs=0.9 * NOMINAL_GHS)
    assert verify_at(cmd, 310) == (CommandState.SUCCEEDED, Outcome.VERIFIED_DESPITE_ACK, "")


def test_failed_restart_ack_without_a_reboot_is_an_edge_failure(world):
    cmd = acked(world, CommandType.REBOOT, status="failed", error_class="execution_failed")
    sample(cmd, 60, uptime_seconds=999999)
    assert verify_at(cmd, 901) == (CommandState.FAILED, Outcome.EDGE_FAILED, "EDGE_EXECUTION_FAILED")


def test_skipped_duplicate_is_decided_by_telemetry(world):
    cmd = acked(world, CommandType.DISABLE_HASHING, status="skipped", error_class="duplicate")
    sample(cmd, 10, hashrate_5s_ghs=0.0)
    assert verify_at(cmd, 20) == (CommandState.SUCCEEDED, Outcome.VERIFIED, "")


def test_set_pool_url_is_verified_from_a_raw_sample_and_fan_from_a_changed_reading(world):
    cmd = acked(world, CommandType.SET_POOL, params={"pool_url": "stratum+tcp://new.example:3333", "pool_user": "a.w"})
    sample(cmd, 10, pool_url="")  # a latest row carries ""
    assert verify_at(cmd, 20)[0] == CommandState.ACKED
    sample(cmd, 30, pool_url="stratum+tcp://new.example:3333")
    assert verify_at(cmd, 40) == (CommandState.SUCCEEDED, Outcome.VERIFIED, "")


def test_set_fan_needs_a_changed_fan_reading(world):
    cmd = acked(world, CommandType.SET_FAN, params={"speed": 80}, before={"fan_speeds": [4, 4100]})
    sample(cmd, 10, fan_speeds=[4, 4100])
    assert verify_at(cmd, 20)[0] == CommandState.ACKED
    sample(cmd, 30, fan_speeds=[4, 5900])
    assert verify_at(cmd, 40) == (CommandState.SUCCEEDED, Outcome.VERIFIED, "")


def test_samples_from_before_the_lease_prove_nothing(world):
    cmd = acked(world, CommandType.DISABLE_HASHING)
    sample(cmd, -3600, hashrate_5s_ghs=0.0)
    assert timezone.now() >= cmd.acked_at
    assert verify_at(cmd, 60)[0] == CommandState.ACKED
