"""A collector's payload key: the AES-256-GCM key of its encrypted envelopes (`payload_enc`,
COLLECTOR_PROTOCOL §2.3), registered here as the collector has it in PICKAXE_LOCAL_KEY.

Stored sealed under COLLECTOR_KEY_KEK (core.sealing), bound to the collector's id. Registering,
rotating and clearing are audited with fingerprints only — the key itself never reaches an audit
payload, a log line or a page. Registering (or rotating) queues the drain of the collector's
quarantined batches (telemetry.quarantine)."""

import hashlib
import secrets

from celery import current_app
from django.db import transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from core.errors import DomainError
from core.sealing import KEY_BYTES, key_from_text, seal, unseal
from telemetry.models import CollectorPayloadKey
from tenants.models import Collector


class InvalidPayloadKey(DomainError):
    error_code = "INVALID_PAYLOAD_KEY"


def fingerprint(key: bytes) -> str:
    """What identifies a key on screens and in audit events: 16 hex characters of its SHA-256."""
    return hashlib.sha256(b"hashinsight-payload-key:" + key).hexdigest()[:16]


def payload_key_parse(text: str) -> bytes:
    """PICKAXE_LOCAL_KEY as written on the edge: 64 hex characters or base64url of 32 bytes."""
    try:
        return key_from_text(text)
    except ValueError as exc:
        raise InvalidPayloadKey(str(exc), field="key") from None


def _context(collector_id: int) -> str:
    return f"collector-payload-key:{collector_id}"


def payload_keys_for(collector_id: int) -> list[tuple[str, bytes]]:
    """(fingerprint, key) of the collector's current key, then its previous one; [] when none."""
    row = CollectorPayloadKey.objects.filter(collector_id=collector_id).first()
    if row is None:
        return []
    keys = [(row.fingerprint, unseal(row.key_sealed, context=_context(collector_id)))]
    if row.previous_sealed:
        keys.append((row.previous_fingerprint, unseal(row.previous_sealed, context=_context(collector_id))))
    return keys


@transaction.atomic
def payload_key_set(*, actor: Actor, collector: Collector, key: bytes, changed_by=None) -> CollectorPayloadKey:
    """Register the collector's key, or rotate it (the old one is kept as `previous`)."""
    if len(key) != KEY_BYTES:
        raise InvalidPayloadKey("a payload key is 32 bytes", field="key")
    now = timezone.now()
    # Locked: two registrations at once must not both read the same "previous" key.
    row = CollectorPayloadKey.objects.select_for_update().filter(collector=collector).first()
    new_fingerprint = fingerprint(key)
    if row is None:
        row = CollectorPayloadKey(collector=collector, created_at=now)
        action = "telemetry.payload_key.registered"
    else:
        if row.fingerprint == new_fingerprint:
            return row  # the same key again: nothing changes
        row.previous_sealed, row.previous_fingerprint = row.key_sealed, row.fingerprint
        action = "telemetry.payload_key.rotated"
    row.key_sealed = seal(key, context=_context(collector.pk))
    row.fingerprint = new_fingerprint
    row.changed_at, row.changed_by = now, changed_by
    row.save()
    site = collector.site
    audit_record(
        actor=actor,
        action=action,
        entity=collector,
        payload={
            "site": site.code,
            "collector": collector.name,
            "fingerprint": row.fingerprint,
            "previous_fingerprint": row.previous_fingerprint,
        },
        site_code=site.code,
    )
    transaction.on_commit(lambda: _drain_later(collector.pk))
    return row


def payload_key_generate(*, actor: Actor, collector: Collector, changed_by=None) -> tuple[CollectorPayloadKey, str]:
    """A new random key, registered; returns it as 64 hex characters (to set as PICKAXE_LOCAL_KEY,
    shown once)."""
    key = secrets.token_bytes(KEY_BYTES)
    return payload_key_set(actor=actor, collector=collector, key=key, changed_by=changed_by), key.hex()


@transaction.atomic
def payload_key_clear(*, actor: Actor, collector: Collector) -> bool:
    """Forget the collector's keys (current and previous). Encrypted uploads are quarantined again."""
    row = CollectorPayloadKey.objects.select_for_update().filter(collector=collector).first()
    if row is None:
        return False
    row.delete()
    site = collector.site
    audit_record(
        actor=actor,
        action="telemetry.payload_key.cleared",
        entity=collector,
        payload={"site": site.code, "collector": collector.name, "fingerprint": row.fingerprint},
        site_code=site.code,
    )
    return True


def _drain_later(collector_id: int) -> None:
    # By name (telemetry.tasks.telemetry_quarantine_drain_task): the worker drains, not this request.
    current_app.send_task("telemetry.quarantine_drain_collector", kwargs={"collector_id": collector_id})
