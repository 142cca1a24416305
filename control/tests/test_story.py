"""The issue's acceptance story over the real HTTP stack: an operator proposes a high-risk command,
another approves it, a v1 collector leases and ACKs it, telemetry uploads prove the effect, the
verify job decides; a second command goes through the legacy protocol; the whole story reads the
same in the API, the admin and the audit chain."""

import datetime as dt
from io import StringIO

import orjson
import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from conftest import SETUP, grant
from control.models import Command, CommandState, Outcome
from control.tasks import commands_verify_due_task
from control.tests.factories import collector_headers
from telemetry.tests.ingest_fixtures import gz, record
from tenants.models import Role
from tenants.services import collector_token_create
from tests.factories import CollectorFactory, UserFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 24, 16, 0, tzinfo=dt.UTC)
V1 = "/api/admin/v1/commands"
NOMINAL_GHS = 200_000.0  # MinerFactory: 200 TH/s


@pytest.fixture(autouse=True)
def _room_for_two_disruptive_commands(settings):
    settings.COMMAND_BLAST_RADIUS_PCT = 100  # site X has five miners: 20 % would allow one


def _json(client, path, body):
    return client.post(path, body, content_type="application/json")


def _ack(client, path, headers, body):
    return client.post(path, data=orjson.dumps(body), content_type="application/json", **headers)


def _upload(client, headers, records):
    upload = headers | {"HTTP_X_UPLOAD_MODE": "raw", "HTTP_CONTENT_ENCODING": "gzip"}
    return client.post("/api/collector/upload", data=gz(records), content_type="application/octet-stream", **upload)


def test_a_proposed_command_is_approved_leased_acked_verified_and_its_story_reads_everywhere(client, world, noc_x):
    noc_1 = noc_x
    noc_2 = grant(UserFactory(username="noc-x-2"), Role.NOC, site=world.site_x)
    disable_on, frequency_on = world.miners_a_x[0], world.miners_a_x[1]
    legacy_collector = CollectorFactory(site=world.site_x, name="edge-x-legacy")
    _, legacy_token = collector_token_create(actor=SETUP, collector=legacy_collector)
    v1 = collector_headers(world.token_x, "SITE-X", "dev-v1")
    legacy = collector_headers(legacy_token, "SITE-X", "dev-legacy")

    with time_machine.travel(T0, tick=False) as clock:
        # NOC-1 proposes; nobody can lease an unapproved command, and NOC-1 cannot approve it.
        client.force_login(noc_1)
        r = _json(
            client,
            V1,
            {
                "site_id": "SITE-X",
                "miner_id": disable_on.miner_id,
                "command_type": "disable_hashing",
                "reason": "PDU 3 over budget",
            },
        )
        assert r.status_code == 201, r.content
        assert (r.json()["state"], r.json()["approval_required"], r.json()["created_by"]) == ("proposed", True, "noc-x")
        pk = r.json()["id"]
        assert client.get("/api/edge/v1/commands/poll", **v1).status_code == 204
        r = _json(client, f"{V1}/{pk}/approve", {"reason": "my own"})
        assert (r.status_code, r.json()["error_code"]) == (403, "SELF_APPROVAL")

        client.force_login(noc_2)
        r = _json(client, f"{V1}/{pk}/approve", {"reason": "checked the PDU load"})
        assert r.status_code == 200, r.content
        assert (r.json()["state"], r.json()["approved_by"]) == ("queued", "noc-x-2")

        # The v1 collector leases it and ACKs `completed` with its snapshots.
        clock.shift(5)
        r = client.get("/api/edge/v1/commands/poll?limit=100", **v1)
        assert r.status_code == 200
        (wire,) = r.json()["commands"]
        assert (wire["command_id"], wire["command"], wire["miner_id"], wire["site_id"], wire["lease_epoch"]) == (
            str(pk),
            "disable",
            disable_on.miner_id,
            "SITE-X",
            1,
        )
        clock.shift(5)
        before, after = {"hashrate_5s_ghs": NOMINAL_GHS, "online": True}, {"hashrate_5s_ghs": 0.0, "online": True}
        r = _ack(
            client,
            f"/api/edge/v1/commands/{pk}/ack",
            v1,
            {
                "command_id": str(pk),
                "status": "completed",
                "result_code": 0,
                "result_message": "hashing disabled",
                "before": before,
                "after": after,
            },
        )
        assert (r.status_code, r.json()["success"], r.json()["command_status"]) == (200, True, "executing")
        assert Command.objects.get(pk=pk).state == CommandState.ACKED  # no sample yet: verification waits

        # A second command, on another miner, goes through the legacy protocol.
        client.force_login(noc_1)
        r = _json(
            client,
            V1,
            {
                "site_id": "SITE-X",
                "miner_id": frequency_on.miner_id,
                "command_type": "set_frequency",
                "params": {"frequency": 450},
                "reason": "efficiency",
            },
        )
        assert (r.status_code, r.json()["state"]) == (201, "queued")
        legacy_pk = r.json()["id"]
        r = client.get("/api/collector/commands/pending", **legacy)
        assert r.status_code == 200 and r.json()["success"] is True
        assert [(c["command_id"], c["command"], c["params"]) for c in r.json()["commands"]] == [
            (str(legacy_pk), "set_frequency", {"frequency": 450})
        ]
        r = _ack(
            client,
            f"/api/collector/commands/{legacy_pk}/result",
            legacy,
            {"command_id": str(legacy_pk), "status": "completed", "result_code": 0, "before": {"frequency_avg": 490.0}},
        )
        assert (r.status_code, r.json()["success"], r.json()["command_status"]) == (200, True, "executing")

        # Telemetry in the collector's format: hashing stopped, the frequency moved.
        clock.shift(20)
        samples = [
            record(
                disable_on.miner_id,
                T0 + dt.timedelta(seconds=25),
                miner_key="",
                hashrate_5s_ghs=120.0,
                hashrate_ghs=40000.0,
            )
        ]
        samples += [record(frequency_on.miner_id, T0 + dt.timedelta(seconds=25), miner_key="", frequency_avg=452.5)]
        r = _upload(client, v1, samples)
        assert r.status_code == 200 and r.json()["accepted"] == 2, r.content

        clock.shift(30)
        commands_verify_due_task()

    story = Command.objects.get(pk=pk)
    assert (story.state, story.outcome, story.approved_by, story.created_by) == (
        CommandState.SUCCEEDED,
        Outcome.VERIFIED,
        noc_2,
        noc_1,
    )
    second = Command.objects.get(pk=legacy_pk)
    assert (second.state, second.outcome) == (CommandState.SUCCEEDED, Outcome.VERIFIED)

    # The API tells the whole story: transitions, the attempt with its snapshots, the ACK evidence.
    client.force_login(noc_1)
    body = client.get(f"{V1}/{pk}").json()
    assert [e["action"].rsplit(".", 1)[1] for e in body["events"]] == [
        "created",
        "approved",
        "queued",
        "dispatched",
        "acked",
        "succeeded",
    ]
    assert {e["chain_key"] for e in body["events"]} == {f"tenant:{world.tenant_a.pk}"}
    by = {e["action"].rsplit(".", 1)[1]: e for e in body["events"]}
    assert "noc-x-2" in by["approved"]["actor_label"]
    assert by["dispatched"]["payload"]["device_id"] == "dev-v1" and by["succeeded"]["payload"]["verdict"] == "seen"
    (attempt,) = body["attempts"]
    assert (attempt["wire_id"], attempt["lease_epoch"], attempt["collector"], attempt["ack_status"]) == (
        str(pk),
        1,
        "edge-x",
        "completed",
    )
    assert (attempt["before"], attempt["after"], attempt["lease_end_reason"]) == (before, after, "acked")
    (ack,) = body["acks"]
    assert (ack["endpoint"], ack["disposition"], ack["payload"]["result_message"]) == (
        "v1",
        "first",
        "hashing disabled",
    )
    legacy_body = client.get(f"{V1}/{legacy_pk}").json()
    assert [(a["endpoint"], a["disposition"]) for a in legacy_body["acks"]] == [("legacy", "first")]
    assert legacy_body["attempts"][0]["collector"] == "edge-x-legacy"
    assert [e["action"].rsplit(".", 1)[1] for e in legacy_body["events"]] == [
        "created",
        "dispatched",
        "acked",
        "succeeded",
    ]

    # The admin change page shows the same timeline.
    html = client.get(reverse("admin:control_command_change", args=[pk])).content.decode()
    for text in (
        "control.command.created",
        "control.command.approved",
        "control.commands.dispatched",
        "leased by poll: attempt 1, lease_epoch 1",
        "Audit trail: ",
        "control.command.acked",
        "control.command.succeeded",
        "checked the PDU load",
        "dev-v1",
        "hashing disabled",
    ):
        assert text in html, text

    # And the audit chains hold.
    out = StringIO()
    call_command("verify_audit_chain", stdout=out)  # exits 1 on FAIL
    assert out.getvalue().strip().splitlines()[-1].startswith("PASS chains=")
