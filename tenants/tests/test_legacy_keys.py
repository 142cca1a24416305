"""The original application's collector keys come across (switch-over, issue 15): imported as
their SHA-256, accepted like tokens, revocable, rotated to new tokens with a grace period."""

import datetime as dt
import hashlib
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from conftest import SETUP
from core.errors import Conflict, InvalidParameter
from tenants.models import Collector, CollectorToken
from tenants.services import collector_legacy_key_import, collector_token_revoke, collector_token_rotate
from tenants.site_identity import site_alias_add

STATUS = "/api/collector/status"
ORIGINAL_KEY = "hk_live_0a1b2c3d4e5f_original-app-key"  # what the field collector has in its config
DIGEST = hashlib.sha256(ORIGINAL_KEY.encode()).hexdigest()


def status(client, key, *, bearer=False, site="SITE-X"):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if bearer else {"HTTP_X_COLLECTOR_KEY": key}
    return client.get(STATUS, HTTP_X_SITE_ID=site, HTTP_X_DEVICE_ID="dev-legacy", **auth)


@pytest.fixture
def legacy(world):
    token, created = collector_legacy_key_import(actor=SETUP, collector=world.collector_x, key_sha256=DIGEST)
    assert created
    return token


def _csv(tmp_path, text: str) -> str:
    path = tmp_path / "keys.csv"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("bearer", [False, True], ids=["x-collector-key", "authorization-bearer"])
def test_an_imported_legacy_key_is_accepted_like_a_token(client, world, legacy, bearer):
    response = status(client, ORIGINAL_KEY, bearer=bearer)
    assert response.status_code == 200, response.content
    assert (response.json()["collector"], response.json()["token_prefix"]) == ("edge-x", "sha256:" + DIGEST[:8])
    assert legacy.kind == CollectorToken.Kind.LEGACY and legacy.token_hash == DIGEST


def test_a_legacy_key_keeps_last_used_at_at_most_once_a_minute(client, legacy):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert status(client, ORIGINAL_KEY).status_code == 200
    legacy.refresh_from_db()
    assert legacy.last_used_at == start
    with time_machine.travel(start + dt.timedelta(seconds=30), tick=False):
        status(client, ORIGINAL_KEY)
    legacy.refresh_from_db()
    assert legacy.last_used_at == start
    with time_machine.travel(start + dt.timedelta(seconds=61), tick=False):
        status(client, ORIGINAL_KEY)
    legacy.refresh_from_db()
    assert legacy.last_used_at == start + dt.timedelta(seconds=61)


def test_a_revoked_legacy_key_is_refused_401(client, legacy):
    collector_token_revoke(actor=SETUP, token=legacy)
    response = status(client, ORIGINAL_KEY)
    assert response.status_code == 401 and response.json()["error_code"] == "INVALID_TOKEN"


def test_a_legacy_key_of_site_x_sent_for_site_y_is_403(client, legacy):
    response = status(client, ORIGINAL_KEY, site="SITE-Y")
    assert response.status_code == 403 and response.json()["error_code"] == "SITE_MISMATCH"


def test_rotation_issues_a_new_token_and_the_old_key_works_only_within_the_grace(client, legacy, settings):
    settings.LEGACY_KEY_ROTATION_GRACE_HOURS = 24
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        new, plaintext = collector_token_rotate(actor=SETUP, token=legacy)
    legacy.refresh_from_db()
    assert legacy.expires_at == now + dt.timedelta(hours=24)
    assert (new.collector_id, new.kind, new.expires_at) == (legacy.collector_id, CollectorToken.Kind.TOKEN, None)
    event = AuditEvent.objects.get(action="tenants.collector_token.rotated")
    assert event.site_code == "SITE-X" and event.payload["new_prefix"] == new.prefix

    with time_machine.travel(now + dt.timedelta(hours=23), tick=False):
        assert status(client, ORIGINAL_KEY).status_code == 200
        assert status(client, plaintext).status_code == 200
    with time_machine.travel(now + dt.timedelta(hours=25), tick=False):
        assert status(client, ORIGINAL_KEY).status_code == 401
        assert status(client, plaintext).status_code == 200


def test_the_grace_defaults_to_a_week(legacy):
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        collector_token_rotate(actor=SETUP, token=legacy)
    legacy.refresh_from_db()
    assert legacy.expires_at == now + dt.timedelta(hours=168)


def test_a_revoked_key_cannot_be_rotated(legacy):
    collector_token_revoke(actor=SETUP, token=legacy)
    with pytest.raises(Conflict) as exc:
        collector_token_rotate(actor=SETUP, token=legacy)
    assert exc.value.error_code == "TOKEN_REVOKED"
    assert CollectorToken.objects.count() == 3  # world's two tokens and the legacy key: nothing issued


def test_importing_is_audited_and_idempotent_and_never_revives_a_revoked_key(world, legacy):
    assert AuditEvent.objects.filter(action="tenants.collector_token.legacy_imported", site_code="SITE-X").count() == 1
    collector_token_revoke(actor=SETUP, token=legacy)
    again, created = collector_legacy_key_import(actor=SETUP, collector=world.collector_x, key_sha256=DIGEST.upper())
    assert (again.pk, created, again.revoked_at is not None) == (legacy.pk, False, True)
    with pytest.raises(Conflict):
        collector_legacy_key_import(actor=SETUP, collector=world.collector_y, key_sha256=DIGEST)


@pytest.mark.parametrize("digest", ["", "abc", "g" * 64, DIGEST[:63]])
def test_a_key_that_is_not_a_sha256_hex_is_refused(world, digest):
    with pytest.raises(InvalidParameter) as exc:
        collector_legacy_key_import(actor=SETUP, collector=world.collector_x, key_sha256=digest)
    assert exc.value.extra["field"] == "sha256"


# --- import_legacy_keys and the report ------------------------------------------------------------


def test_import_legacy_keys_takes_site_codes_or_aliases_creates_collectors_and_is_idempotent(client, world, tmp_path):
    site_alias_add(actor=SETUP, site=world.site_y, value="2")
    other = hashlib.sha256(b"second-key").hexdigest()
    path = _csv(tmp_path, f"site,collector,sha256\nSITE-X,edge-x,{DIGEST}\n2,remote-0387,{other}\n")
    out = StringIO()
    call_command("import_legacy_keys", "--file", path, stdout=out)
    assert "2 legacy key(s) imported, 0 already present" in out.getvalue()
    created = Collector.objects.get(name="remote-0387")
    assert created.site == world.site_y
    assert CollectorToken.objects.get(token_hash=other).collector == created

    out = StringIO()
    call_command("import_legacy_keys", "--file", path, stdout=out)
    assert "0 legacy key(s) imported, 2 already present" in out.getvalue()
    assert CollectorToken.objects.filter(kind=CollectorToken.Kind.LEGACY).count() == 2
    assert status(client, "second-key", site="2").status_code == 200


def test_import_legacy_keys_with_a_bad_row_imports_nothing(world, tmp_path):
    path = _csv(tmp_path, f"SITE-X,edge-x,{DIGEST}\nNO-SUCH-SITE,edge-z,{DIGEST[::-1]}\n")
    with pytest.raises(CommandError, match="row 2"):
        call_command("import_legacy_keys", "--file", path)
    assert not CollectorToken.objects.filter(kind=CollectorToken.Kind.LEGACY).exists()


def test_the_report_lists_collectors_still_on_legacy_keys(client, world, legacy):
    status(client, ORIGINAL_KEY)
    revoked, _ = collector_legacy_key_import(
        actor=SETUP, collector=world.collector_y, key_sha256=hashlib.sha256(b"gone").hexdigest()
    )
    collector_token_revoke(actor=SETUP, token=revoked)
    out = StringIO()
    call_command("legacy_keys_report", stdout=out, stderr=StringIO())
    lines = out.getvalue().splitlines()
    assert lines[0] == "site\tcollector\tkey\tlast_used_at\texpires_at"
    assert len(lines) == 2 and lines[1].startswith(f"SITE-X\tedge-x\tsha256:{DIGEST[:8]}\t20")


def test_the_token_changelist_filters_legacy_keys_and_rotates_them(as_user, world, legacy, ops_manager_x):
    client = as_user(ops_manager_x)
    url = reverse("admin:tenants_collectortoken_changelist")
    page = client.get(url + "?kind__exact=legacy").content.decode()
    assert "sha256:" + DIGEST[:8] in page and "hic_" not in page
    response = client.post(url, {"action": "rotate", "_selected_action": [legacy.pk]}, follow=True)
    assert response.status_code == 200
    assert "shown only once" in response.content.decode()
    legacy.refresh_from_db()
    assert legacy.expires_at is not None
    assert CollectorToken.objects.filter(collector=world.collector_x, kind="token", label__startswith="rotated").count()
