"""Invite-only sign-up: an invitation link puts the invitation in the session; allauth's sign-up
form is open only while it is there, and accepting it grants the invited role."""

import datetime as dt
import hashlib
import secrets

from django import forms
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from audit.services import Actor, audit_record
from tenants.models import Invitation
from tenants.services import grant_shape_check, role_grant_create

SESSION_KEY = "hi_invitation_id"
DEFAULT_VALID_DAYS = 7


def _hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


@transaction.atomic
def invitation_create(
    *,
    actor: Actor,
    invited_by,
    email: str,
    role: str,
    site=None,
    zone=None,
    tenant=None,
    all_sites=False,
    valid_days: int = DEFAULT_VALID_DAYS,
) -> tuple[Invitation, str]:
    """Returns the invitation and its one-time token (the path /accounts/invite/<token>/)."""
    # Refused now rather than when the invitee signs up, which would leave an account with no role.
    grant_shape_check(role=role, all_sites=all_sites, site=site, zone=zone, tenant=tenant)
    plaintext = secrets.token_urlsafe(24)
    if zone is not None and site is None:
        site = zone.site
    inv = Invitation.objects.create(
        email=email.strip().lower(),
        token_hash=_hash(plaintext),
        role=role,
        site=site,
        zone=zone,
        tenant=tenant,
        all_sites=all_sites,
        invited_by=invited_by,
        expires_at=timezone.now() + dt.timedelta(days=valid_days),
    )
    audit_record(
        actor=actor,
        action="tenants.invitation.created",
        entity=inv,
        payload={
            "email": inv.email,
            "role": role,
            "site": site and site.code,
            "tenant": tenant and tenant.pk,
            "all_sites": all_sites,
        },
        tenant_id=tenant.pk if tenant else None,
        site_code=site.code if site else None,
    )
    return inv, plaintext


def _usable(inv: Invitation | None) -> Invitation | None:
    if inv is None or inv.accepted_at is not None or inv.expires_at <= timezone.now():
        return None
    return inv


def invitation_from_session(request) -> Invitation | None:
    inv_id = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    return _usable(Invitation.objects.filter(pk=inv_id).first()) if inv_id else None


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user, request=None) -> None:
    inv = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if _usable(inv) is None:
        raise forms.ValidationError("this invitation has expired or was already used")
    if user.email.strip().lower() != inv.email:
        raise forms.ValidationError("sign up with the email address the invitation was sent to")
    inv.accepted_at = timezone.now()
    inv.accepted_user = user
    inv.save(update_fields=["accepted_at", "accepted_user"])
    audit_record(
        actor=Actor.user(user),
        action="tenants.invitation.accepted",
        entity=inv,
        payload={"email": inv.email, "user": user.get_username(), "role": inv.role},
        tenant_id=inv.tenant_id,
        site_code=inv.site.code if inv.site_id else None,
    )
    role_grant_create(
        actor=Actor.user(user),
        user=user,
        role=inv.role,
        site=inv.site,
        zone=inv.zone,
        tenant=inv.tenant,
        all_sites=inv.all_sites,
        granted_by=inv.invited_by,
    )
    if request is not None:
        request.session.pop(SESSION_KEY, None)


def invitation_view(request, token: str):
    inv = _usable(Invitation.objects.filter(token_hash=_hash(token)).first())
    if inv is None:
        return render(request, "account/invitation_invalid.html", status=404)
    request.session[SESSION_KEY] = inv.pk
    return redirect(reverse("account_signup") + "?" + urlencode({"email": inv.email}))


def invitation_for_email(email: str) -> Invitation | None:
    """The newest usable invitation for an address (a social sign-in carries no invitation link)."""
    pending = Invitation.objects.filter(email=email.strip().lower(), accepted_at__isnull=True)
    return pending.filter(expires_at__gt=timezone.now()).order_by("-pk").first()
