"""Writes to a site's edge security (mTLS, source-network allowlist) and to collector client
certificates. Each change is one audit event on the site's chain, carrying the state after it and
before it, so tenants.edge_attestation can tell from the chain alone what held at any moment."""

import base64
import datetime as dt
import hashlib
import ipaddress
import re
from urllib.parse import unquote

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from core.errors import Conflict, InvalidParameter
from tenants.collector_auth_cache import collector_auth_cache_invalidate
from tenants.models import Collector, CollectorCertificate, Site, SiteEdgeSecurity

SECURITY_ACTIONS = (
    "tenants.site_security.mtls_enabled",
    "tenants.site_security.mtls_disabled",
    "tenants.site_security.allowlist_changed",
)
CERTIFICATE_ACTIONS = ("tenants.collector_certificate.added", "tenants.collector_certificate.revoked")

_HEX64 = re.compile(r"[0-9a-f]{64}")
_PEM_BODY = re.compile(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)


def edge_security_of(site: Site) -> SiteEdgeSecurity:
    """The site's settings, unsaved defaults (both off) when it has no row."""
    try:
        return site.edge_security
    except SiteEdgeSecurity.DoesNotExist:
        return SiteEdgeSecurity(site=site)


def _state(sec: SiteEdgeSecurity) -> dict:
    return {"mtls_required": sec.mtls_required, "source_networks": list(sec.source_networks)}


def _locked(site: Site) -> SiteEdgeSecurity:
    # Locked so two concurrent changes cannot both record the same "previous" state.
    sec, _ = SiteEdgeSecurity.objects.get_or_create(site=site)
    return SiteEdgeSecurity.objects.select_for_update().select_related("site").get(pk=sec.pk)


def _record(actor: Actor, action: str, sec: SiteEdgeSecurity, before: dict, reason: str) -> None:
    audit_record(
        actor=actor,
        action=action,
        entity=sec.site,
        payload={**_state(sec), "previous": before, "reason": reason},
        site_code=sec.site.code,
    )


@transaction.atomic
def site_mtls_set(*, actor: Actor, site: Site, required: bool, reason: str = "") -> SiteEdgeSecurity:
    sec = _locked(site)
    if sec.mtls_required == required:
        return sec  # nothing changed, nothing to attest
    before = _state(sec)
    sec.mtls_required = required
    sec.save(update_fields=["mtls_required", "updated_at"])
    collector_auth_cache_invalidate()  # the site's edge rules come with its cached tokens
    _record(actor, SECURITY_ACTIONS[0] if required else SECURITY_ACTIONS[1], sec, before, reason)
    return sec


def networks_normalize(values) -> list[str]:
    """CIDRs (or bare addresses) as networks in canonical form, duplicates dropped, order kept.
    A bad one is 400 INVALID_CIDR naming its position."""
    out: list[str] = []
    for i, raw in enumerate(values):
        try:
            net = str(ipaddress.ip_network(str(raw).strip(), strict=False))
        except ValueError as exc:
            raise InvalidParameter(
                f"{raw!r} is not an IP network", error_code="INVALID_CIDR", field=f"source_networks[{i}]"
            ) from exc
        if net not in out:
            out.append(net)
    return out


@transaction.atomic
def site_allowlist_set(*, actor: Actor, site: Site, networks: list[str], reason: str = "") -> SiteEdgeSecurity:
    """Replace the site's source networks; an empty list turns the allowlist off."""
    normalized = networks_normalize(networks)
    sec = _locked(site)
    if list(sec.source_networks) == normalized:
        return sec
    before = _state(sec)
    sec.source_networks = normalized
    sec.save(update_fields=["source_networks", "updated_at"])
    collector_auth_cache_invalidate()
    _record(actor, SECURITY_ACTIONS[2], sec, before, reason)
    return sec


def fingerprint_normalize(value: str) -> str:
    """A SHA-256 fingerprint as lower-case hex without separators ("AB:CD:…" is accepted)."""
    fp = re.sub(r"[\s:]", "", value or "").lower()
    if not _HEX64.fullmatch(fp):
        raise InvalidParameter(
            "a SHA-256 fingerprint is 64 hex digits", error_code="INVALID_FINGERPRINT", field="fingerprint"
        )
    return fp


def pem_fingerprint(pem: str) -> str | None:
    """SHA-256 of the DER certificate in a PEM text (URL-escaped, as nginx's $ssl_client_escaped_cert,
    or plain); None when there is no readable certificate."""
    text = unquote(pem) if "%" in pem else pem
    match = _PEM_BODY.search(text)
    if not match:
        return None
    try:
        der = base64.b64decode("".join(match.group(1).split()), validate=True)
    except ValueError:
        return None
    return hashlib.sha256(der).hexdigest()


@transaction.atomic
def collector_certificate_add(
    *, actor: Actor, collector: Collector, fingerprint: str, not_after: dt.datetime, note: str = "", created_by=None
) -> CollectorCertificate:
    fp = fingerprint_normalize(fingerprint)
    if not_after <= timezone.now():
        raise InvalidParameter("not_after is in the past", error_code="CERTIFICATE_EXPIRED", field="not_after")
    try:
        with transaction.atomic():
            cert = CollectorCertificate.objects.create(
                collector=collector, fingerprint_sha256=fp, not_after=not_after, note=note, created_by=created_by
            )
    except IntegrityError as exc:
        raise Conflict("this certificate is already registered", error_code="DUPLICATE", field="fingerprint") from exc
    audit_record(
        actor=actor,
        action=CERTIFICATE_ACTIONS[0],
        entity=cert,
        payload={"collector": collector.name, "fingerprint_sha256": fp, "not_after": not_after, "note": note},
        site_code=collector.site.code,
    )
    return cert


@transaction.atomic
def collector_certificate_revoke(*, actor: Actor, certificate: CollectorCertificate, revoked_by=None):
    cert = (
        CollectorCertificate.objects.select_for_update(of=("self",))
        .select_related("collector__site")
        .get(pk=certificate.pk)
    )
    if cert.revoked_at is not None:
        return cert
    cert.revoked_at = timezone.now()
    cert.revoked_by = revoked_by
    cert.save(update_fields=["revoked_at", "revoked_by"])
    audit_record(
        actor=actor,
        action=CERTIFICATE_ACTIONS[1],
        entity=cert,
        payload={"collector": cert.collector.name, "fingerprint_sha256": cert.fingerprint_sha256},
        site_code=cert.collector.site.code,
    )
    return cert
