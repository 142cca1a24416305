"""Object grants (docs/SECURITY.md "Object grants"): created, revoked and expired here, each in
its own audited transaction, and mirrored into django-guardian's UserObjectPermission table.

tenants.scoping reads the ObjectGrant rows (with the time check) — the guardian rows are the
mirror for `user.has_perm(perm, obj)` and guardian's own tools, kept equal to the live grants:
assigned when a grant is created, removed when the last live grant of that user on that object
is revoked or expires."""

import datetime as dt

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from audit.services import Actor, audit_record
from core.errors import Forbidden, InvalidParameter
from tenants import scoping
from tenants.models import ZONE_GRANT_ROLES, ObjectGrant, Role

#: the guardian permission each shape mirrors to
GROUP_PERMISSION = "tenants.view_minergroup"
ZONE_PERMISSION = "tenants.view_zone"


def _target(grant: ObjectGrant):
    return (ZONE_PERMISSION, grant.zone) if grant.zone_id else (GROUP_PERMISSION, grant.miner_group)


def _scope(grant: ObjectGrant) -> dict:
    """The chain the event goes to: the zone's site, or the customer's tenant."""
    if grant.zone_id:
        return {"site_code": grant.zone.site.code}
    return {"tenant_id": grant.tenant_id}


def _payload(grant: ObjectGrant) -> dict:
    return {
        "user": grant.user.get_username(),
        "role": grant.role,
        "zone": grant.zone_id and f"{grant.zone.site.code}/{grant.zone.code}",
        "miner_group": grant.miner_group_id and str(grant.miner_group),
        "tenant": grant.tenant_id and grant.tenant.slug,
        "expires_at": grant.expires_at,
        "reason": grant.reason,
    }


def object_grant_shape_check(*, role: str, zone=None, miner_group=None, tenant=None) -> None:
    if role == Role.CUSTOMER:
        if miner_group is None or tenant is None or zone is not None:
            raise InvalidParameter(
                "a Customer object grant names one miner group and the tenant", error_code="INVALID_GRANT"
            )
    elif role in ZONE_GRANT_ROLES:
        if zone is None or miner_group is not None or tenant is not None:
            raise InvalidParameter("an operator object grant names one zone only", error_code="INVALID_GRANT")
    else:
        raise InvalidParameter(
            f"an object grant carries Customer (groups) or one of {', '.join(ZONE_GRANT_ROLES)} (a zone)",
            error_code="INVALID_GRANT",
            field="role",
        )


@transaction.atomic
def object_grant_create(
    *, actor: Actor, granted_by, user, role: str, zone=None, miner_group=None, tenant=None, expires_at=None, reason=""
) -> ObjectGrant:
    """Grant `role` on one zone, or Customer on one miner group of one tenant — only inside the
    granting user's own grant scope (tenants.scoping.can_object_grant)."""
    object_grant_shape_check(role=role, zone=zone, miner_group=miner_group, tenant=tenant)
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise InvalidParameter("expires_at is in the past", error_code="INVALID_EXPIRY", field="expires_at")
    if granted_by is not None and not scoping.can_object_grant(
        granted_by, role=role, zone=zone, miner_group=miner_group, tenant=tenant
    ):
        raise Forbidden(scoping.FORBIDDEN_MESSAGE)
    grant = ObjectGrant.objects.create(
        user=user,
        role=role,
        zone=zone,
        miner_group=miner_group,
        tenant=tenant,
        expires_at=expires_at,
        reason=(reason or "").strip()[:255],
        granted_by=granted_by,
    )
    perm, obj = _target(grant)
    assign_perm(perm, user, obj)
    audit_record(
        actor=actor, action="tenants.object_grant.created", entity=grant, payload=_payload(grant), **_scope(grant)
    )
    return grant


def _unmirror(grant: ObjectGrant, now) -> None:
    """Remove the guardian row unless another live grant of the user still covers that object."""
    same = ObjectGrant.objects.filter(user_id=grant.user_id, revoked_at__isnull=True, expired_at__isnull=True)
    same = same.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).exclude(pk=grant.pk)
    same = same.filter(zone_id=grant.zone_id) if grant.zone_id else same.filter(miner_group_id=grant.miner_group_id)
    if not same.exists():
        perm, obj = _target(grant)
        remove_perm(perm, grant.user, obj)


@transaction.atomic
def object_grant_revoke(*, actor: Actor, grant: ObjectGrant, revoked_by=None) -> ObjectGrant:
    """Revoke at once (the next read no longer sees it). Revoking twice, or an expired grant, is a no-op."""
    grant = (
        ObjectGrant.objects.select_for_update(of=("self",))
        .select_related("user", "zone__site", "miner_group__site", "tenant")
        .get(pk=grant.pk)
    )
    if grant.revoked_at is not None or grant.expired_at is not None:
        return grant
    now = timezone.now()
    grant.revoked_at = now
    grant.revoked_by = revoked_by
    grant.save(update_fields=["revoked_at", "revoked_by"])
    _unmirror(grant, now)
    audit_record(
        actor=actor, action="tenants.object_grant.revoked", entity=grant, payload=_payload(grant), **_scope(grant)
    )
    return grant


def object_grants_expire(*, now: dt.datetime | None = None) -> int:
    """Beat job: mark grants past their expiry as expired, one audited transaction each. Reads
    never wait for this (scoping compares expires_at itself); it records the end and clears the mirror."""
    now = now or timezone.now()
    due = ObjectGrant.objects.filter(revoked_at__isnull=True, expired_at__isnull=True, expires_at__lte=now)
    done = 0
    for pk in due.order_by("pk").values_list("pk", flat=True)[:1000]:
        with transaction.atomic():
            grant = (
                ObjectGrant.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("user", "zone__site", "miner_group__site", "tenant")
                .filter(pk=pk, revoked_at__isnull=True, expired_at__isnull=True)
                .first()
            )
            if grant is None:
                continue
            grant.expired_at = now
            grant.save(update_fields=["expired_at"])
            _unmirror(grant, now)
            audit_record(
                actor=Actor.system("object_grants_expire"),
                action="tenants.object_grant.expired",
                entity=grant,
                payload=_payload(grant),
                **_scope(grant),
            )
            done += 1
    return done
