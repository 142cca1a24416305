"""How people authenticate with a personal API token: `Authorization: Bearer hip_…` on every
operator and customer API (DRF's DEFAULT_AUTHENTICATION_CLASSES, before the session).

The request's user is the token's owner, so scoping is exactly theirs, read live on each request:
a grant removed a second ago is gone for the token too. Collector routes list only
CollectorTokenAuthentication, so a personal token never opens them; and this class ignores any
bearer value without the `hip_` prefix, so a collector token opens no person's route."""

from allauth.account.adapter import get_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS

from tenants.mfa import mfa_required_for
from tenants.personal_tokens import PERSONAL_TOKEN_PREFIX, TokenRefused, personal_token_lookup, personal_token_touch


class PersonalTokenRefused(exceptions.AuthenticationFailed):
    def __init__(self, detail: str, error_code: str):
        super().__init__(detail)
        self.error_code = error_code


class MfaEnrolmentRequired(exceptions.PermissionDenied):
    error_code = "MFA_ENROLMENT_REQUIRED"
    default_detail = "enrol an authenticator app (TOTP) before using this API"


class TokenReadOnly(exceptions.PermissionDenied):
    error_code = "TOKEN_READ_ONLY"
    default_detail = "this personal token is read-only: GET, HEAD and OPTIONS only"


def presented_personal_token(request) -> str:
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    if auth[:7].lower() != "bearer ":
        return ""
    value = auth[7:].strip()
    return value if value.startswith(PERSONAL_TOKEN_PREFIX) else ""


def _client_ip(request) -> str:
    try:  # the same client address (and proxy trust) as login audits and allauth's rate limits
        return get_adapter(request).get_client_ip(request)
    except DjangoPermissionDenied:
        return ""


class PersonalTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        raw = presented_personal_token(request)
        if not raw:
            return None
        try:
            token = personal_token_lookup(raw)
        except TokenRefused as exc:
            raise PersonalTokenRefused(exc.message, exc.error_code) from None
        if not token.user.is_active:
            raise PersonalTokenRefused("the owner of this personal token is deactivated", "USER_INACTIVE")
        if mfa_required_for(token.user) and not is_mfa_enabled(token.user, [Authenticator.Type.TOTP]):
            # A token minted before its owner could operate (or before MFA was required) does not
            # let an operator role act without an enrolled second factor.
            raise MfaEnrolmentRequired()
        if token.read_only and request.method not in SAFE_METHODS:
            raise TokenReadOnly()
        personal_token_touch(token=token, ip=_client_ip(request._request))
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="hashinsight"'
