"""The owner's approval (customer consent) is on the customer's chain and so in their evidence pack."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from audit.services import Actor
from control.models import ConsentPolicy
from control.services import consent, decisions
from control.tests.factories import operator_command
from hosting.tests.evidence_data import unzip
from hosting.tests.test_evidence_pack import request_pack

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.COMMAND_BLAST_RADIUS_PCT = 100


def test_the_pack_holds_the_owners_approval_and_the_operators_step(client, world, noc_x, ops_manager_x, customer_a):
    # audit events carry the database's clock, so the pack covers the hour around now
    ConsentPolicy.objects.create(tenant=world.tenant_a, consent_types=["reboot"])
    c = operator_command(noc_x, world.miners_a_x[0], "reboot", reason="hung board")
    decisions.command_approve(actor=Actor.user(ops_manager_x), user=ops_manager_x, command=c, reason="ok")
    consent.command_owner_approve(actor=Actor.user(customer_a), user=customer_a, command=c, reason="owner agrees")
    now = timezone.now().replace(second=0, microsecond=0)
    start, end = now - dt.timedelta(minutes=30), now + dt.timedelta(minutes=2)
    response = request_pack(client, customer_a, start=start, end=end, at=end + dt.timedelta(minutes=1))
    assert response.status_code == 200, response.content[:300]
    files = unzip(b"".join(response.streaming_content))
    chain = [json.loads(line) for line in files["audit/tenant_chain.jsonl"].splitlines()]
    about = [e for e in chain if not e.get("stub") and e["entity_id"] == str(c.pk)]
    actions = [e["action"] for e in about]
    assert "control.command.operator_approved" in actions and "control.command.queued" in actions
    owner = next(e for e in about if e["action"] == "control.command.owner_approved")
    assert owner["payload"]["step"] == "owner_approval" and owner["payload"]["reason"] == "owner agrees"
    assert owner["actor_id"] == str(customer_a.pk)
