"""Writes to tenancy and inventory. Each one records its audit event in the same transaction."""

import datetime as dt
import hashlib
import re
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from audit.services import Actor, EventSpec, audit_record, audit_record_many, entity_ref
from core.errors import Conflict, InvalidParameter
from tenants.collector_auth_cache import collector_auth_cache_invalidate, device_written, device_written_at
from tenants.collector_last_poll import last_poll_record
from tenants.models import (
    Collector,
    CollectorDevice,
    CollectorToken,
    Miner,
    MinerOwnership,
    Role,
    RoleGrant,
    Site,
    SiteAlias,
    SiteEdgeSecurity,
    Tenant,
    Zone,
)
from tenants.site_identity import alias_values_preload, alias_values_subquery, site_identity_lock

TOKEN_PREFIX = "hic_"
LEGACY_PREFIX = "sha256:"  # a legacy key's prefix: the start of its hash (its plaintext was never here)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# What a collector's authentication reads (tenants.collector_auth_cache keeps it per process).
_AUTH_READS = (Collector, CollectorToken, Site, SiteEdgeSecurity, Zone)


def _audit_scope(obj) -> dict:
    """Which chain an inventory object's events belong to (SPEC §8)."""
    if isinstance(obj, Miner):
        return {"tenant_id": obj.tenant_id, "site_code": obj.site.code}
    if isinstance(obj, Site):
        return {"site_code": obj.code}
    if isinstance(obj, (Zone, Collector)):
        return {"site_code": obj.site.code}
    if isinstance(obj, CollectorToken):
        return {"site_code": obj.collector.site.code}
    if isinstance(obj, models.Model) and hasattr(obj, "site"):
        return {"site_code": obj.site.code}
    tenant_id = getattr(obj, "tenant_id", None)
    if tenant_id:
        return {"tenant_id": tenant_id}  # a tenant's own settings (its consent policy)
    return {}


def _snapshot(obj, fields=None) -> dict:
    data = {}
    for f in obj._meta.concrete_fields:
        if fields is not None and f.name not in fields:
            continue
        if f.name in ("token_hash", "password", "last_login"):
            continue
        data[f.attname] = getattr(obj, f.attname)
    return data


@transaction.atomic
def inventory_save(*, actor: Actor, obj: models.Model, changed: list[str] | None = None):
    """Create or update one inventory row (tenant, site, zone, collector, miner, group)."""
    adding = obj._state.adding
    if not adding and isinstance(obj, Site):
        # Site.code is the public id on the wire: it never changes once issued.
        stored = Site.objects.only("code").get(pk=obj.pk).code
        if stored != obj.code:
            raise InvalidParameter("site code is immutable", error_code="IMMUTABLE_FIELD", field="code")
    if adding and isinstance(obj, Site):
        site_identity_lock(obj.code)
        owner = SiteAlias.objects.filter(value=obj.code).select_related("site").first()
        if owner is not None:
            raise Conflict(
                f"{obj.code!r} is an alias of site {owner.site.code}", error_code="SITE_ALIAS_TAKEN", field="code"
            )
    try:
        obj.full_clean()
    except ValidationError as exc:
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        raise InvalidParameter("invalid fields", fields=fields) from exc
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:
        raise Conflict(str(exc).splitlines()[0], error_code="DUPLICATE") from exc
    if not adding and isinstance(obj, _AUTH_READS):
        collector_auth_cache_invalidate()  # a collector deactivated, a zone renamed: seen at once
    if adding and isinstance(obj, Miner):
        MinerOwnership.objects.create(miner=obj, tenant_id=obj.tenant_id, valid_from=timezone.now())
    verb = "created" if adding else "updated"
    audit_record(
        actor=actor,
        action=f"{obj._meta.app_label}.{obj._meta.model_name}.{verb}",
        entity=obj,
        payload={"fields": _snapshot(obj, None if adding else changed)},
        **_audit_scope(obj),
    )
    return obj


@transaction.atomic
def inventory_delete(*, actor: Actor, obj: models.Model) -> None:
    entity_type, entity_id = entity_ref(obj)
    scope = _audit_scope(obj)
    snapshot = _snapshot(obj)
    if isinstance(obj, _AUTH_READS):
        collector_auth_cache_invalidate()
    try:
        with transaction.atomic():
            obj.delete()
    except models.ProtectedError as exc:
        # Rows with history (ownership, grants, tokens, miners) are kept: evidence must not vanish.
        raise Conflict(f"{obj} is still referenced and cannot be deleted", error_code="IN_USE") from exc
    audit_record(
        actor=actor,
        action=f"{obj._meta.app_label}.{obj._meta.model_name}.deleted",
        entity_type=entity_type,
        entity_id=entity_id,
        payload={"fields": snapshot},
        **scope,
    )


def token_digest(plaintext: str) -> str:
    # Tokens are 256-bit random strings, so a plain SHA-256 is enough (no password stretching).
    return hashlib.sha256(plaintext.encode()).hexdigest()


@transaction.atomic
def collector_token_create(
    *, actor: Actor, collector: Collector, label: str = "", expires_at: dt.datetime | None = None, created_by=None
) -> tuple[CollectorToken, str]:
    """Mint a token. The plaintext is returned once and never stored."""
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = CollectorToken.objects.create(
        collector=collector,
        prefix=plaintext[:12],
        token_hash=token_digest(plaintext),
        label=label,
        expires_at=expires_at,
        created_by=created_by,
    )
    audit_record(
        actor=actor,
        action="tenants.collector_token.created",
        entity=token,
        payload={"collector": collector.name, "prefix": token.prefix, "label": label, "expires_at": expires_at},
        site_code=collector.site.code,
    )
    return token, plaintext


@transaction.atomic
def collector_token_revoke(*, actor: Actor, token: CollectorToken, revoked_by=None) -> CollectorToken:
    token = CollectorToken.objects.select_for_update(of=("self",)).select_related("collector__site").get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.revoked_by = revoked_by
    token.save(update_fields=["revoked_at", "revoked_by"])
    collector_auth_cache_invalidate()  # 401 at once in this process (others: COLLECTOR_AUTH_CACHE_SEC)
    audit_record(
        actor=actor,
        action="tenants.collector_token.revoked",
        entity=token,
        payload={"collector": token.collector.name, "prefix": token.prefix},
        site_code=token.collector.site.code,
    )
    return token


@transaction.atomic
def collector_legacy_key_import(
    *, actor: Actor, collector: Collector, key_sha256: str, label: str = "imported"
) -> tuple[CollectorToken, bool]:
    """Take over a key of the original application, which stored the SHA-256 hex of the key as
    this model does: the collector keeps sending the same key. Idempotent: a hash already here
    (revoked or not) is returned unchanged, with False."""
    digest = (key_sha256 or "").strip().lower()
    if not _SHA256_HEX.fullmatch(digest):
        raise InvalidParameter("a legacy key is the 64 hex digits of its SHA-256", field="sha256")
    existing = CollectorToken.objects.filter(token_hash=digest).first()
    if existing is None:
        try:
            with transaction.atomic():
                token = CollectorToken.objects.create(
                    collector=collector,
                    prefix=LEGACY_PREFIX + digest[:8],
                    token_hash=digest,
                    label=label,
                    kind=CollectorToken.Kind.LEGACY,
                )
        except IntegrityError:
            # Imported by a concurrent run between the read above and this insert.
            existing = CollectorToken.objects.get(token_hash=digest)
        else:
            audit_record(
                actor=actor,
                action="tenants.collector_token.legacy_imported",
                entity=token,
                payload={"collector": collector.name, "prefix": token.prefix, "label": label},
                site_code=collector.site.code,
            )
            return token, True
    if existing.collector_id != collector.pk:
        raise Conflict("this key is already another collector's", error_code="DUPLICATE", field="sha256")
    return existing, False


@transaction.atomic
def collector_token_rotate(
    *, actor: Actor, token: CollectorToken, grace_hours: float | None = None, created_by=None
) -> tuple[CollectorToken, str]:
    """Issue a new token for the token's collector; the old one keeps working for the grace
    period (LEGACY_KEY_ROTATION_GRACE_HOURS), then expires. The new plaintext is returned once."""
    # Locked so two rotations of one token cannot both extend its expiry.
    token = CollectorToken.objects.select_for_update(of=("self",)).select_related("collector__site").get(pk=token.pk)
    if token.revoked_at is not None:
        raise Conflict("a revoked token cannot be rotated", error_code="TOKEN_REVOKED")
    grace = settings.LEGACY_KEY_ROTATION_GRACE_HOURS if grace_hours is None else grace_hours
    until = timezone.now() + dt.timedelta(hours=grace)
    if token.expires_at is None or token.expires_at > until:
        token.expires_at = until
        token.save(update_fields=["expires_at"])
        collector_auth_cache_invalidate()
    new, plaintext = collector_token_create(
        actor=actor, collector=token.collector, label=f"rotated from {token.prefix}", created_by=created_by
    )
    audit_record(
        actor=actor,
        action="tenants.collector_token.rotated",
        entity=token,
        payload={"collector": token.collector.name, "prefix": token.prefix, "kind": token.kind}
        | {"new_prefix": new.prefix, "old_expires_at": token.expires_at},
        site_code=token.collector.site.code,
    )
    return new, plaintext


def collector_token_lookup(plaintext: str) -> CollectorToken | None:
    """The active token for a presented secret, or None (unknown, revoked, expired, inactive collector)."""
    if not plaintext:
        return None
    token = (
        CollectorToken.objects.select_related("collector__site__edge_security", "collector__zone")
        .annotate(site_aliases=alias_values_subquery("collector__site_id"))
        .filter(token_hash=token_digest(plaintext))
        .first()
    )
    if token is None or token.revoked_at is not None or not token.collector.is_active:
        return None
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return None
    # The site's aliases come with the token row: checking X-Site-ID or an envelope costs no query.
    alias_values_preload(token.collector.site, token.site_aliases)
    return token


def collector_token_touch(
    *, token: CollectorToken, device_id: str, resolution_sec: int, user_agent: str = "", version: str = ""
) -> None:
    """Keep last_used_at and the device list (with the User-Agent and, from a register, the version
    it reports); a device seen for the first time is audited. Both are written at most once per
    `resolution_sec`: last_used_at judged from the token instance (the auth cache's,
    tenants.collector_auth_cache, remembers this process's writes), the device from what this process
    wrote last (a new User-Agent or a version is written at once). Most requests write nothing."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= resolution_sec:
        # A conditional UPDATE: concurrent requests of one collector do not queue on the row.
        CollectorToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    if not device_id:
        return
    device_id, user_agent = device_id[:128], user_agent[:256]
    at, agent = device_written_at(token.pk, device_id)
    if at is not None and not version and user_agent in ("", agent) and (now - at).total_seconds() < resolution_sec:
        return
    seen: dict = {"last_seen_at": now}
    if user_agent:
        seen["user_agent"] = user_agent
    if version:
        seen["version"] = version[:64]
    updated = CollectorDevice.objects.filter(token=token, device_id=device_id).update(**seen)
    device_written(token.pk, device_id, now, user_agent or agent)
    if updated:
        return
    with transaction.atomic():
        _, created = CollectorDevice.objects.get_or_create(token=token, device_id=device_id, defaults=seen)
        if created:
            audit_record(
                actor=Actor.collector(token.collector, device_id),
                action="tenants.collector_device.first_seen",
                entity=token.collector,
                payload={"device_id": device_id, "token_prefix": token.prefix},
                site_code=token.collector.site.code,
            )


def collector_poll_touch(*, collector: Collector, resolution_sec: int) -> None:
    """A command poll: its exact time in Redis (one SET, tenants.collector_last_poll: what the status
    shows), and the collector's last_poll_at, the durable copy, written at most once per
    `resolution_sec` (the collector row comes with the token, so most polls cost no query here)."""
    now = timezone.now()
    last_poll_record(collector.pk, now)
    if collector.last_poll_at is None or (now - collector.last_poll_at).total_seconds() >= resolution_sec:
        Collector.objects.filter(pk=collector.pk).update(last_poll_at=now)
        collector.last_poll_at = now


@transaction.atomic
def miner_assign_owner(*, actor: Actor, miners: list[Miner], tenant: Tenant, at: dt.datetime | None = None) -> int:
    """Move miners to another owner: close the open ownership row, open a new one.

    History stays with the previous owner; both tenants' chains get an event.
    """
    at = at or timezone.now()
    # Lock in pk order so two concurrent re-assignments of overlapping sets cannot deadlock.
    locked = list(
        Miner.objects.select_for_update(of=("self",))
        .select_related("site")
        .filter(pk__in=[m.pk for m in miners])
        .order_by("pk")
    )
    events: list[EventSpec] = []
    moved = 0
    for miner in locked:
        if miner.tenant_id == tenant.pk:
            continue
        previous = miner.tenant_id
        MinerOwnership.objects.filter(miner=miner, valid_to__isnull=True).update(valid_to=at)
        MinerOwnership.objects.create(miner=miner, tenant=tenant, valid_from=at)
        miner.tenant = tenant
        miner.save(update_fields=["tenant"])
        moved += 1
        payload = {"miner_id": miner.miner_id, "from_tenant": previous, "to_tenant": tenant.pk, "at": at}
        events.append(
            EventSpec("tenants.miner.owner_changed", "tenants.miner", str(miner.pk), payload, previous, miner.site.code)
        )
        events.append(
            EventSpec(
                "tenants.miner.owner_changed", "tenants.miner", str(miner.pk), payload, tenant.pk, miner.site.code
            )
        )
    audit_record_many(actor=actor, events=events)
    return moved


def _grant_scope(grant: RoleGrant) -> dict:
    if grant.role == Role.CUSTOMER:
        return {"tenant_id": grant.tenant_id}
    if grant.site is not None:
        return {"site_code": grant.site.code}
    return {}


def grant_shape_check(*, role: str, all_sites: bool = False, site=None, zone=None, tenant=None) -> None:
    """Refuse a scope that is not Customer at one tenant, or an operator role at all sites / a site / a zone of it."""
    if zone is not None and site is not None and zone.site_id != site.pk:
        raise InvalidParameter("the zone is not in that site", error_code="INVALID_GRANT", field="zone")
    if zone is not None and site is None:
        site = zone.site
    try:
        # The database constraint is the rule; checked up front for invitations, which have no row yet.
        RoleGrant(role=role, all_sites=all_sites, site=site, zone=zone, tenant=tenant).validate_constraints(
            exclude={"user"}
        )
    except ValidationError as exc:
        raise InvalidParameter(
            "a grant is Customer at one tenant, or an operator role at all sites, one site or one zone of it",
            error_code="INVALID_GRANT",
        ) from exc


@transaction.atomic
def role_grant_create(
    *, actor: Actor, user, role: str, site=None, zone=None, tenant=None, all_sites=False, granted_by=None
) -> RoleGrant:
    grant_shape_check(role=role, all_sites=all_sites, site=site, zone=zone, tenant=tenant)
    if zone is not None and site is None:
        site = zone.site
    grant = RoleGrant(
        user=user, role=role, site=site, zone=zone, tenant=tenant, all_sites=all_sites, granted_by=granted_by
    )
    try:
        with transaction.atomic():
            grant.save()
    except IntegrityError as exc:
        # The shape was checked above, so this is the unique constraint: the grant already exists.
        raise Conflict("the user already holds this grant", error_code="DUPLICATE") from exc
    audit_record(
        actor=actor,
        action="tenants.role_grant.created",
        entity=grant,
        payload={
            "user": user.get_username(),
            "role": role,
            "all_sites": all_sites,
            "site": site and site.code,
            "zone": zone and zone.code,
            "tenant": tenant and tenant.pk,
        },
        **_grant_scope(grant),
    )
    return grant


@transaction.atomic
def role_grant_revoke(*, actor: Actor, grant: RoleGrant) -> None:
    scope = _grant_scope(grant)
    entity_type, entity_id = entity_ref(grant)
    payload = {"user": grant.user.get_username(), "role": grant.role}
    grant.delete()
    audit_record(
        actor=actor,
        action="tenants.role_grant.revoked",
        entity_type=entity_type,
        entity_id=entity_id,
        payload=payload,
        **scope,
    )


@transaction.atomic
def user_login_record(*, user, ip: str = "", method: str = "password") -> None:
    audit_record(
        actor=Actor.user(user),
        action="tenants.user.logged_in",
        entity=user,
        payload={"ip": ip, "method": method},
    )


@transaction.atomic
def miners_register(
    *, actor: Actor, site: Site, tenant: Tenant, rows: list[dict], reason: str = "registered"
) -> list[Miner]:
    """Register many miners of one site for one owner in one go (imports, demo data, unknown ids
    reported by a collector). Ids already present are skipped. One audit event lists the new ids."""
    now = timezone.now()
    fields = {"miner_id", "zone", "miner_key", "model", "nominal_hashrate_ths", "nominal_power_w"}
    new = [Miner(site=site, tenant=tenant, **{k: v for k, v in row.items() if k in fields}) for row in rows]
    created = Miner.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)
    # ignore_conflicts leaves pks unset: read back the rows that now exist without ownership.
    ids = [m.miner_id for m in created]
    fresh = list(Miner.objects.filter(site=site, miner_id__in=ids, ownerships__isnull=True))
    MinerOwnership.objects.bulk_create(
        [MinerOwnership(miner=m, tenant=tenant, valid_from=now) for m in fresh], batch_size=1000
    )
    if fresh:
        audit_record(
            actor=actor,
            action="tenants.miner.registered",
            entity_type="tenants.site",
            entity_id=str(site.pk),
            payload={"reason": reason, "count": len(fresh), "miner_ids": sorted(m.miner_id for m in fresh)},
            tenant_id=tenant.pk,
            site_code=site.code,
        )
    return fresh
