"""MFA for operators (SPEC §3): with MFA_REQUIRED_FOR_OPERATORS on, anyone who can create, approve
or execute commands must have TOTP, and the session must have passed it, before any page other than
the account pages answers. HTML requests are sent to enrolment (or back to sign-in); API requests get
403 MFA_ENROLMENT_REQUIRED / MFA_REQUIRED."""

from allauth.account.authentication import get_authentication_records
from allauth.account.internal.flows.login import record_authentication
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.views import ActivateTOTPView
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from tenants.scoping import Capability, scope_for

# Sign-in, sign-out, enrolment and the MFA pages themselves, and static files: always reachable.
EXEMPT_PREFIXES = ("/accounts/", "/static/")


def mfa_required_for(user) -> bool:
    if not settings.MFA_REQUIRED_FOR_OPERATORS:
        return False
    scope = scope_for(user)
    return scope.has(Capability.OPERATE) or scope.has(Capability.APPROVE)


def session_passed_mfa(request, user) -> bool:
    return any(r.get("method") == "mfa" for r in get_authentication_records(request, user))


def _wants_json(request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


class MfaRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is None
            or not user.is_authenticated
            or request.path.startswith(EXEMPT_PREFIXES)
            or not mfa_required_for(user)
        ):
            return self.get_response(request)
        if not is_mfa_enabled(user, [Authenticator.Type.TOTP]):
            if _wants_json(request):
                return _refusal("MFA_ENROLMENT_REQUIRED", "enrol an authenticator app (TOTP) before using this API")
            return redirect("mfa_activate_totp")
        if not session_passed_mfa(request, user):
            # Signed in without the second factor (a session from before enrolment): sign in again.
            if _wants_json(request):
                return _refusal("MFA_REQUIRED", "this session did not pass MFA: sign in again")
            logout(request)
            return redirect(reverse("account_login") + "?" + urlencode({"next": request.get_full_path()}))
        return self.get_response(request)


def _refusal(code: str, message: str) -> JsonResponse:
    return JsonResponse({"success": False, "error_code": code, "error": message}, status=403)


class ActivateTotpView(ActivateTOTPView):
    """allauth's enrolment; the code the user just typed proves the second factor for this session."""

    def form_valid(self, form):
        response = super().form_valid(form)
        record_authentication(self.request, self.request.user, "mfa", type="totp", enrolled=True)
        return response


activate_totp = ActivateTotpView.as_view()
