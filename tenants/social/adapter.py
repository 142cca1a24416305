"""Invite-only social sign-in: a verified email links the identity to the user who has it, or to a
pending invitation for it; anything else is refused with a page saying why, never signed up."""

import logging

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.core.internal.datakit import parse_bool_safely
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.providers.base import AuthProcess
from django.contrib.auth import get_user_model
from django.shortcuts import render

from tenants.invitations import invitation_accept, invitation_for_email
from tenants.social.services import identity_link_record

log = logging.getLogger(__name__)


def verified_email(sociallogin) -> str | None:
    """The ID token's email when the issuer vouches for it: `email_verified`, or for Microsoft
    (which sends no email_verified) the optional `xms_edov` claim, "email domain owner verified"."""
    data = sociallogin.account.extra_data
    claims = data.get("id_token") or data.get("userinfo") or data
    email = (claims.get("email") or "").strip().lower()
    if not email:
        return None
    verified = parse_bool_safely(claims.get("email_verified"))
    if not verified and sociallogin.account.provider == "microsoft":
        verified = parse_bool_safely(claims.get("xms_edov"))
    return email if verified else None


def _refuse(request, reason: str, email: str | None):
    log.info("social_login_refused", extra={"reason": reason})
    return ImmediateHttpResponse(
        render(request, "account/social_refused.html", {"reason": reason, "email": email}, status=403)
    )


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def pre_social_login(self, request, sociallogin):
        if sociallogin.is_existing:
            return  # an identity linked before signs its user in
        if request.user.is_authenticated and sociallogin.state.get("process") == AuthProcess.CONNECT:
            return  # the signed-in user links one more identity (allauth asks them to re-authenticate)
        email = verified_email(sociallogin)
        if email is None:
            raise _refuse(request, "unverified", sociallogin.account.extra_data.get("id_token", {}).get("email"))
        for address in sociallogin.email_addresses:
            if address.email.strip().lower() == email:
                address.verified = True  # e.g. Microsoft's xms_edov, which allauth does not read
        user = get_user_model().objects.filter(email__iexact=email, is_active=True).order_by("pk").first()
        if user is not None:
            sociallogin.connect(request, user)  # audited as tenants.identity.linked (tenants/social/receivers.py)
            return
        if invitation_for_email(email) is None:
            raise _refuse(request, "no_invitation", email)
        # A pending invitation: allauth's auto sign-up goes on, and save_user accepts it.

    def is_open_for_signup(self, request, sociallogin):
        email = verified_email(sociallogin)
        return email is not None and invitation_for_email(email) is not None

    def is_auto_signup_allowed(self, request, sociallogin):
        return True

    def save_user(self, request, sociallogin, form=None):
        email = verified_email(sociallogin)
        invitation = invitation_for_email(email) if email else None
        if invitation is None:
            raise _refuse(request, "no_invitation", email)
        user = super().save_user(request, sociallogin, form)
        invitation_accept(invitation=invitation, user=user, request=request)
        identity_link_record(account=sociallogin.account)
        return user
