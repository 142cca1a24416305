import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from control.models import CommandSigningKey
from control.services.signing import (
    command_sign,
    command_signature_valid,
    signing_key_for,
    signing_secret,
)

pytestmark = pytest.mark.django_db


def test_turning_signing_on_prints_each_collectors_secret_once_and_is_audited(world):
    out = io.StringIO()
    call_command("command_signing", "--site", "SITE-X", "--on", stdout=out)
    name, secret = out.getvalue().split()
    assert name == world.collector_x.name
    assert secret == signing_secret(signing_key_for(world.collector_x))
    body = {"command_id": "1", "command": "restart"}
    assert command_signature_valid({**body, "signature": command_sign(body, secret)}, secret)
    assert AuditEvent.objects.filter(action="control.signing.enabled", site_code="SITE-X").count() == 1
    again = io.StringIO()
    call_command("command_signing", "--site", "SITE-X", "--on", stdout=again)
    assert again.getvalue() == ""  # an existing secret is never shown twice


def test_turning_signing_off_disables_the_keys(world):
    call_command("command_signing", "--site", "SITE-X", "--on", stdout=io.StringIO())
    call_command("command_signing", "--site", "SITE-X", "--off", stdout=io.StringIO())
    assert not CommandSigningKey.objects.filter(collector=world.collector_x, enabled=True).exists()


def test_an_unknown_site_is_refused(world):
    with pytest.raises(CommandError, match="no site"):
        call_command("command_signing", "--site", "NOPE", "--on")
