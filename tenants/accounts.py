"""django-allauth adapter: sign-up is invite-only, every login is audited, and failed logins lock
the account (and the address) out for a while (tenants.lockout)."""

import time

from allauth.account import app_settings as allauth_account
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.authentication import get_authentication_records
from allauth.core import context

from tenants.lockout import login_failure_record, login_locked, login_success_record
from tenants.services import user_login_record


def _login_name(credentials) -> str:
    return credentials.get("email") or credentials.get("username") or ""


class AccountAdapter(DefaultAccountAdapter):
    def pre_authenticate(self, request, **credentials):
        super().pre_authenticate(request, **credentials)  # allauth's per-IP throttle
        # Checked before the password: a locked account stays locked even with the right one.
        if login_locked(email=_login_name(credentials), ip=self.get_client_ip(request) or ""):
            raise self.validation_error("too_many_login_attempts")

    def authenticate(self, request, **credentials):
        user = super().authenticate(request, **credentials)
        if user is not None:
            login_success_record(email=_login_name(credentials))
        return user

    def authentication_failed(self, request, **credentials):
        login_failure_record(email=_login_name(credentials), ip=self.get_client_ip(request) or "")

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        # allauth asks for the password again before MFA changes even right after sign-in, and a user
        # who signs in with Google or Microsoft only has no password: a sign-in within the
        # reauthentication timeout is recent enough to enrol (or change) an authenticator.
        required = super().is_reauthentication_required(app=app, **kwargs)
        if not required or app != "allauth.mfa":
            return required
        request = context.request
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return True
        now = time.time()
        timeout = allauth_account.REAUTHENTICATION_TIMEOUT
        return not any(now - r.get("at", 0) < timeout for r in get_authentication_records(request, user))

    def is_open_for_signup(self, request):
        from tenants.invitations import invitation_from_session

        return invitation_from_session(request) is not None

    def login(self, request, user):
        super().login(request, user)
        # allauth records each step of this sign-in in the session: the first one names the method.
        records = get_authentication_records(request, user)
        method = records[0].get("method", "password") if records else "password"
        if method == "socialaccount":
            method = f"socialaccount:{records[0].get('provider', '')}"
        user_login_record(user=user, ip=self.get_client_ip(request) or "", method=method)

    def save_user(self, request, user, form, commit=True):
        from tenants.invitations import invitation_accept, invitation_from_session

        invitation = invitation_from_session(request)
        user = super().save_user(request, user, form, commit=commit)
        if invitation is not None and commit:
            invitation_accept(invitation=invitation, user=user, request=request)
        return user

    def clean_email(self, email):
        from django import forms

        from tenants.invitations import invitation_from_session

        email = super().clean_email(email)
        invitation = invitation_from_session(self.request) if self.request else None
        if invitation is not None and email.strip().lower() != invitation.email:
            raise forms.ValidationError("Sign up with the email address the invitation was sent to.")
        return email
