"""What a hostile client found (issue 18), through the real HTTP stack: form bodies past Django's
request limits on every command-create route are a 4xx with error_code from the one exception
handler, and a NUL anywhere in an ACK body is stored without it (200: a collector given anything
else spools and replays the ACK forever, SPEC §4.1)."""

from urllib.parse import urlencode

import orjson
import pytest

from audit.models import AuditEvent
from control.models import Command, CommandAck
from control.tests.test_ack import ack, body, leased

pytestmark = pytest.mark.usefixtures("no_blast_radius_cap")

CREATE_ROUTES = [
    "/api/v1/commands",
    "/api/admin/v1/commands",
    "/api/collector/commands",
    "/api/collector/commands/batch",
]


@pytest.fixture
def noc_client(as_user, noc_x):
    return as_user(noc_x)


@pytest.mark.parametrize("path", CREATE_ROUTES)
def test_a_form_body_with_too_many_fields_is_a_400_with_error_code(noc_client, world, settings, path):
    fields = [("site_id", "SITE-X"), ("command_type", "reboot")]
    fields += [("miners", world.miners_a_x[0].miner_id)] * (settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)
    audited = AuditEvent.objects.count()
    r = noc_client.post(path, urlencode(fields), content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400, r.content
    assert r.json()["error_code"] == "TOO_MANY_FIELDS" and r.json()["success"] is False
    r = noc_client.post(path, {"miners": ["m"] * 1001})  # multipart
    assert (r.status_code, r.json()["error_code"]) == (400, "TOO_MANY_FIELDS")
    assert Command.objects.count() == 0 and AuditEvent.objects.count() == audited


@pytest.mark.parametrize("path", CREATE_ROUTES)
def test_a_form_body_past_the_memory_cap_is_a_413_with_error_code(noc_client, settings, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    r = noc_client.post(path, {"reason": "x" * 5000})  # multipart
    assert (r.status_code, r.json()["error_code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert Command.objects.count() == 0


NUL_ACK_PATHS = ["/api/edge/v1/commands/{}/ack", "/api/collector/commands/{}/result"]


@pytest.mark.parametrize("path", NUL_ACK_PATHS)
def test_a_nul_anywhere_in_an_ack_body_is_stripped_and_acknowledged(client, world, path):
    _, wid = leased(world)
    payload = body("failed", message="bad\u0000 fan", error_class="timeout") | {
        "before": {"pool\u0000_url": ["a\u0000b", {"k": "\u0000"}]}
    }
    r = ack(client, world.token_x, wid, payload, path=path)
    assert r.status_code == 200, r.content
    stored = CommandAck.objects.get()
    raw = orjson.dumps(stored.payload)
    assert b"\\u0000" not in raw and stored.payload["result_message"] == "bad fan"
    assert stored.payload["before"] == {"pool_url": ["ab", {"k": ""}]}


def test_a_nul_in_the_legacy_ack_body_is_stripped_and_acknowledged(client, world):
    _, wid = leased(world)
    r = ack(
        client,
        world.token_x,
        "",
        body("completed", message="ok\u0000") | {"command_id": wid},
        path="/api/collector/commands/ack{}",
    )
    assert r.status_code == 200, r.content
    assert CommandAck.objects.get().payload["result_message"] == "ok"
