"""command_propose_each: many independent commands in one call, each what command_create would have
made alone — its own dedupe key and evidence, approvals judged per command, guardrails taken miner
by miner (the first ones fit, the rest are refused with the guardrail's code) — not a batch."""

from audit.models import AuditEvent
from audit.services import Actor
from control.models import Command, CommandState
from control.services import creation
from control.services.proposals import command_propose_each

ACTOR = Actor.system("rules")


def propose(miners, command_type="set_fan", key="rule:1:trigger", **kw):
    kw.setdefault("params", {"speed": 100} if command_type == "set_fan" else None)
    return command_propose_each(
        actor=ACTOR,
        miners=miners,
        evidence={m.pk: {"value": 90 + n} for n, m in enumerate(miners)},
        command_type=command_type,
        dedupe_key=key,
        reason="rule 'hot' v1: temp_max > 85 (trigger)",
        created_by_system="rules",
        **kw,
    )


def test_one_command_per_miner_with_its_own_key_and_evidence_and_one_event_each(world):
    miners = world.miners_a_x[:3]
    before = AuditEvent.objects.count()
    out = propose(miners)
    commands = Command.objects.order_by("miner_id")
    assert [c.miner_id for c in commands] == sorted(m.pk for m in miners)
    for n, m in enumerate(miners):
        c = out[m.pk].command
        assert c.dedupe_key == f"rule:1:trigger/{m.pk}" and c.evidence == {"value": 90 + n}
        assert c.batch_id is None and c.state == CommandState.QUEUED and not out[m.pk].deduplicated
    assert AuditEvent.objects.count() - before == 3
    assert set(AuditEvent.objects.filter(action="control.command.created").values_list("entity_id", flat=True)) == {
        str(c.pk) for c in commands
    }


def test_a_second_call_finds_the_live_commands_instead_of_creating_more(world):
    first = propose(world.miners_a_x[:2])
    again = propose(world.miners_a_x[:3])
    assert Command.objects.count() == 3
    for m in world.miners_a_x[:2]:
        assert again[m.pk].deduplicated and again[m.pk].command.pk == first[m.pk].command.pk
    assert not again[world.miners_a_x[2].pk].deduplicated


def test_no_batch_size_approval_but_the_creator_may_ask_for_it(world, settings):
    settings.COMMAND_APPROVAL_BATCH_MINERS = 2
    assert {p.command.state for p in propose(world.miners_a_x + world.miners_b_x).values()} == {CommandState.QUEUED}
    asked = propose(world.miners_b_x[:2], key="rule:2:trigger", approval_required=True)
    assert {p.command.state for p in asked.values()} == {CommandState.PROPOSED}


def test_the_rate_limit_is_taken_miner_by_miner(world, settings):
    settings.COMMAND_RATE_LIMITS = "set_fan=2/300"
    out = propose(world.miners_a_x + world.miners_b_x)  # site X's five miners
    made = [p for p in out.values() if p.command is not None]
    refused = [p for p in out.values() if p.command is None]
    assert len(made) == 2 and len(refused) == 3
    assert all(p.error.startswith("RATE_LIMITED: ") for p in refused)
    assert Command.objects.count() == 2


def test_the_blast_radius_lets_the_first_ones_through(world, settings, noc_x):
    settings.COMMAND_BLAST_RADIUS_PCT = 40  # 5 miners at site X → 2 disrupted at most
    creation.command_create(
        actor=Actor.user(noc_x), user=noc_x, miner=world.miners_a_x[0], command_type="reboot", reason="by hand"
    )
    site_x = world.miners_a_x + world.miners_b_x
    out = propose(site_x[:4], command_type="disable_hashing", key="rule:3:trigger")
    assert out[site_x[0].pk].command is not None  # already counted: no new slot needed
    assert out[site_x[1].pk].command is not None
    for m in site_x[2:4]:
        assert out[m.pk].command is None and out[m.pk].error.startswith("BLAST_RADIUS_EXCEEDED: ")


def test_a_leased_miner_is_skipped_as_locked(world):
    miner = world.miners_a_x[0]
    first = propose([miner], key="rule:4:trigger")[miner.pk].command
    Command.objects.filter(pk=first.pk).update(state=CommandState.DISPATCHED)  # as a poll's lease leaves it
    out = propose([miner, world.miners_a_x[1]], key="rule:5:trigger")
    assert out[miner.pk].command is None and out[miner.pk].error.startswith("MINER_LOCKED: ")
    assert out[world.miners_a_x[1].pk].command is not None
