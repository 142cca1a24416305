"""What the hosting API views share: validation into the one error shape, resolving the public ids a
caller names inside their scope (403 FORBIDDEN otherwise), and the error responses in the schema."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiResponse
from rest_framework.permissions import IsAuthenticated

from core.errors import InvalidParameter
from telemetry.selectors import miner_get
from tenants import scoping
from tenants.permissions import IsOperator

DEPRECATED = "Legacy path (SPEC §11): deprecated, never removed. "
ERRORS = {
    400: OpenApiResponse(description="INVALID_PARAMETER (with `fields` or `field`): bad input"),
    401: OpenApiResponse(description="UNAUTHENTICATED: not signed in"),
    403: OpenApiResponse(description="FORBIDDEN: outside your scope (the same whether it exists or not)"),
}
WRITE_ERRORS = {**ERRORS, 409: OpenApiResponse(description="INVALID_TRANSITION: not allowed from the current state")}


def valid(serializer_class, data) -> dict:
    s = serializer_class(data=data)
    s.is_valid(raise_exception=True)  # 400 INVALID_PARAMETER with `fields` (core.api.exceptions)
    return s.validated_data


def site_and_miner(user, data: dict):
    """(site, miner or None) named by site_id / miner_id, each in the user's scope or 403."""
    site = scoping.site_get(user, data["site_id"])
    miner = miner_get(user, data["miner_id"], site_code=site.code) if data.get("miner_id") else None
    return site, miner


def user_named(username):
    if username is None:
        return None
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        # The same words as an existing user who cannot act there: no username oracle.
        raise InvalidParameter("assignee: cannot act at this site", field="assignee")
    return user


class ReadAllWriteOperators(IsAuthenticated):
    """GET for anyone signed in (rows are scoped); POST and the rest for operators only."""

    message = "operators only"

    def has_permission(self, request, view):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return super().has_permission(request, view)
        return IsOperator().has_permission(request, view)
