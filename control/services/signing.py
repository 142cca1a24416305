"""Optional HMAC signing of the commands handed to collectors (SPEC §4).

signature = hex(HMAC-SHA256(secret, canonical JSON of the command object without `signature`)):
keys sorted, no whitespace, UTF-8 — the object already carries `expires_at`, so the expiry is
signed with the body. The per-collector secret is derived (HMAC of SECRET_KEY and the key row's
salt), never stored: it is shown once by command_signing_set and can be re-derived to sign.
Changing SECRET_KEY or the salt rotates every derived secret.
"""

import hashlib
import hmac
import secrets
from collections.abc import Callable

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from control.models import CommandSigningKey
from tenants.models import Collector, Site


def signing_secret(key: CommandSigningKey) -> str:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"command-signing:{key.collector_id}:{key.salt}".encode(), hashlib.sha256
    ).hexdigest()


def canonical_command_bytes(command: dict) -> bytes:
    if "signature" in command:
        command = {k: v for k, v in command.items() if k != "signature"}
    return orjson.dumps(command, option=orjson.OPT_SORT_KEYS)


def command_signer(secret: str) -> Callable[[dict], str]:
    """command_sign with the secret bound: a poll signs every command it hands out with one key."""
    key = secret.encode()

    def sign(command: dict) -> str:
        return hmac.digest(key, canonical_command_bytes(command), "sha256").hex()

    return sign


def command_sign(command: dict, secret: str) -> str:
    return command_signer(secret)(command)


def command_signature_valid(command: dict, secret: str) -> bool:
    """What a collector does with a signed command (and what the tests check)."""
    return hmac.compare_digest(command.get("signature", ""), command_sign(command, secret))


def signing_key_for(collector: Collector) -> CommandSigningKey | None:
    return CommandSigningKey.objects.filter(collector=collector, enabled=True).first()


@transaction.atomic
def command_signing_set(*, actor: Actor, site: Site, enabled: bool, rotate: bool = False) -> dict[str, str]:
    """Turn signing on or off for every collector of a site, audited. Returns {collector name:
    secret} for the collectors whose secret is new (to configure on the edge; shown once)."""
    now = timezone.now()
    shown: dict[str, str] = {}
    for collector in Collector.objects.filter(site=site).order_by("pk"):
        key = CommandSigningKey.objects.select_for_update().filter(collector=collector).first()
        if key is None:
            if not enabled:
                continue
            key = CommandSigningKey(collector=collector, salt=secrets.token_hex(16), created_at=now)
            shown[collector.name] = ""
        elif rotate:
            key.salt = secrets.token_hex(16)
            shown[collector.name] = ""
        key.enabled = enabled
        key.changed_at = now
        key.save()
        if collector.name in shown:
            shown[collector.name] = signing_secret(key)
    audit_record(
        actor=actor,
        action="control.signing.enabled" if enabled else "control.signing.disabled",
        entity=site,
        payload={"site": site.code, "rotated": sorted(shown)},
        site_code=site.code,
    )
    return shown
