"""The demo's story end to end over real HTTP (issue: rules, "Done when"): a simulated miner heats
up, its uploads go through the collector's endpoint, a rule pass catches it and proposes set_fan
100 with the samples as evidence, an approver approves it, the simulated collector polls, carries
it out and ACKs, the next samples show the fan change and verification closes the command; the
miner cools, and the rule's recovery proposes the fan back to normal."""

import datetime as dt

import pytest

from audit.services import Actor
from control.models import Command, CommandState
from control.services.decisions import command_approve
from control.services.verification import commands_verify_due
from rules.models import HitKind, Mode, RuleHit, RuleState
from rules.services.definitions import rule_create
from rules.services.evaluation import rules_evaluate
from tenants.models import Miner
from verification.edge_commands import EdgeCommands
from verification.fleet import Fleet, MinerSpec
from verification.server import LocalServer
from verification.uplink import Uplink

T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def story(world, time_machine):
    time_machine.move_to(T0, tick=True)
    miners = list(Miner.objects.filter(site=world.site_x).order_by("pk"))
    fleet = Fleet("SITE-X", [MinerSpec(m.miner_id, miner_key=m.miner_key) for m in miners], offline_share=0)
    for sim in fleet.miners:
        sim.heating = None
    fleet.miners[0].heating = (-900.0, 2.0)  # a clogged filter: 30 °C over its normal already
    definition = {
        "name": "Overheat",
        "metric": "temp_max",
        "op": "gt",
        "threshold": 85,
        "clear_threshold": 75,
        "consecutive_samples": 3,
        "cooldown_sec": 900,
        "command_type": "set_fan",
        "params": {"speed": 100},
        "recovery_command_type": "set_fan",
        "recovery_params": {"speed": 70},
        "priority_class": 40,
        "approval_required": True,
    }
    rule = rule_create(actor=Actor.system("test"), user=None, site=world.site_x, **definition)
    return fleet, miners, rule


def upload(uplink: Uplink, fleet: Fleet, clock, minute: int) -> None:
    """One raw cycle at T0 + minute, sent 5 s later by the server's clock."""
    at = T0 + dt.timedelta(minutes=minute)
    clock.move_to(at + dt.timedelta(seconds=5), tick=True)
    for chunk in uplink.chunks(fleet.cycle(at.replace(tzinfo=None), "raw"), mode="raw", api_mode="v1"):
        sent = uplink.send(chunk)
        assert sent.ok, (sent.status, sent.answer)


def test_a_hot_miner_is_caught_proposed_approved_executed_verified_and_recovered(
    story, world, ops_manager_x, time_machine
):
    fleet, miners, rule = story
    hot = miners[0]
    with LocalServer() as url:
        uplink = Uplink(url, token=world.token_x, site_code="SITE-X", device_id="dev-x")
        edge = EdgeCommands(fleet, uplink, api_mode="auto")
        for minute in range(3):
            upload(uplink, fleet, time_machine, minute)
        report = rules_evaluate(now=T0 + dt.timedelta(minutes=2, seconds=20))
        assert [(d.kind, d.miner_pk) for d in report.decisions] == [(HitKind.TRIGGER, hot.pk)]

        command = Command.objects.get()
        assert (command.state, command.command_type, command.params) == (
            CommandState.PROPOSED,
            "set_fan",
            {"speed": 100},
        )
        assert command.reason.startswith("rule 'Overheat' v1: temp_max > 85")
        assert len(command.evidence["samples"]) == 3 and min(s["value"] for s in command.evidence["samples"]) > 85
        assert edge.poll_round().polled == 0  # unapproved: never handed out

        command_approve(actor=Actor.user(ops_manager_x), user=ops_manager_x, command=command, reason="fans to 100")
        got = edge.poll_round()
        assert (got.polled, got.acked) == (1, {"completed": 1})
        command.refresh_from_db()
        assert command.state == CommandState.ACKED and fleet.miners[0].fan_pct == 100

        for minute in range(3, 12):  # the fan pulls the heat back down, 3 °C a minute
            upload(uplink, fleet, time_machine, minute)
            commands_verify_due()
            report = rules_evaluate(now=T0 + dt.timedelta(minutes=minute, seconds=20))
            if report.count(HitKind.RECOVERY):
                break
        command.refresh_from_db()
        assert (command.state, command.outcome) == (CommandState.SUCCEEDED, "verified")
        assert RuleHit.objects.filter(kind=HitKind.RECOVERY, miner=hot).count() == 1
        assert RuleState.objects.get(rule=rule, miner=hot).mode == Mode.NORMAL
        recovery = Command.objects.exclude(pk=command.pk).get()
        assert (recovery.state, recovery.params, recovery.dedupe_key) == (
            CommandState.PROPOSED,
            {"speed": 70},
            f"rule:{rule.pk}:recovery/{hot.pk}",
        )
