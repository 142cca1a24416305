"""Probes of the admin site and the account pages."""

from django.contrib import admin
from django.contrib.auth import get_user_model

from tenants.admin_base import ScopedModelAdmin
from tenants.models import (
    Miner,
)
from verification.isolation.expect import (
    SELF_SERVICE,
    LoginRedirect,
    NoAccess,
    Reachable,
    ScopedOrDenied,
)
from verification.isolation.probes import (
    ANON,
    CUSTOMER_A_ON_B,
    CUSTOMER_A_OWN,
    NOC_X_ON_Y,
    NOC_X_OWN,
    Probe,
)
from verification.isolation.probes_api import ADMIN_OBJECTS
from verification.isolation.routes import Route
from verification.isolation.world import MISSING_ID, World


def _platform_object(model, w: World):
    """Third-party admins are platform-only: any row is out of scope for customers and operators."""
    if model is get_user_model():
        return w.customer_b.pk
    return model._default_manager.order_by("pk").values_list("pk", flat=True).first() or MISSING_ID


def _admin_model(route: Route):
    """(model, model admin, suffix) when the route is one of a registered ModelAdmin's standard URLs."""
    for model, model_admin in admin.site._registry.items():
        prefix = f"admin/{model._meta.app_label}/{model._meta.model_name}/"
        if route.raw.startswith(prefix) and route.raw[len(prefix) :] in _ADMIN_SUFFIXES:
            return model, model_admin, route.raw[len(prefix) :]
    return None


_ADMIN_SUFFIXES = {"": ("GET", "POST"), "add/": ("GET", "POST"), "<path:object_id>/": ("GET",)}
_ADMIN_SUFFIXES |= {f"<path:object_id>/{s}/": ("GET", "POST") for s in ("change", "delete")}
_ADMIN_SUFFIXES["<path:object_id>/history/"] = ("GET",)


def admin_model_covered(route: Route) -> bool:
    found = _admin_model(route)
    if found is None:
        return False
    model, model_admin, _ = found
    # A scoped admin needs its objects in ADMIN_OBJECTS; a new model without them has no case.
    return not isinstance(model_admin, ScopedModelAdmin) or model in ADMIN_OBJECTS


def admin_model_probes(route: Route, w: World) -> list[Probe]:
    """Changelist, add, change, delete, history of every admin model. Writes are empty POSTs: the
    permission gate answers before any form is read, so a broken gate shows without changing data."""
    model, model_admin, suffix = _admin_model(route)
    scoped = isinstance(model_admin, ScopedModelAdmin)
    objects = ADMIN_OBJECTS[model](w) if scoped else (_platform_object(model, w),) * 2 + (None,)
    for_customer, for_noc, own = objects
    out = []
    if "object_id" not in suffix:
        path = route.fill()
        out += [
            Probe(route, "GET", ANON, path, LoginRedirect(), w.markers_all()),
            Probe(route, "GET", CUSTOMER_A_ON_B, path, NoAccess(), w.markers_b()),
            Probe(route, "POST", CUSTOMER_A_ON_B, path, NoAccess(), w.markers_b()),
        ]
        if suffix == "":
            out.append(Probe(route, "GET", NOC_X_ON_Y, path, ScopedOrDenied(), w.markers_y()))
        return out
    # Django's RedirectView at <id>/ answers every method: each one gets probed.
    methods = dict.fromkeys(_ADMIN_SUFFIXES[suffix] + route.methods())
    for method in methods:
        out += [
            Probe(
                route,
                method,
                CUSTOMER_A_ON_B,
                route.fill(object_id=for_customer),
                NoAccess(),
                w.markers_b(),
                route.fill(object_id=MISSING_ID),
            ),
            Probe(
                route,
                method,
                NOC_X_ON_Y,
                route.fill(object_id=for_noc),
                NoAccess(),
                w.markers_y(),
                route.fill(object_id=MISSING_ID),
            ),
        ]
    out.append(Probe(route, "GET", ANON, route.fill(object_id=for_customer), LoginRedirect(), w.markers_all()))
    if own is not None and suffix in ("<path:object_id>/change/", "<path:object_id>/history/"):
        out.append(Probe(route, "GET", NOC_X_OWN, route.fill(object_id=own), Reachable(), w.markers_y()))
    return out


ADMIN_SITE_PAGES = {
    "admin:index",
    "admin:login",
    "admin:logout",
    "admin:password_change",
    "admin:password_change_done",
    "admin:autocomplete",
    "admin:jsi18n",
    "admin:app_list",
}
PUBLIC_PATHS = ("/health", "/health/deep", "/ready", "/alive", "/metrics", "/api/schema/", "/api/docs/", "/api/redoc/")


def admin_site_probes(route: Route, w: World) -> list[Probe]:
    """The console's own pages (index, app index, password, jsi18n, autocomplete, catch-all):
    operators only — customers 403, anonymous to the login page. Logout is never POSTed."""
    path = route.fill(app_label="tenants", url="isolation-missing/")
    out = [
        Probe(route, "GET", ANON, path, LoginRedirect(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, path, NoAccess(), w.markers_b()),
    ]
    if route.name in ("admin:index", "admin:app_list"):
        out.append(Probe(route, "GET", NOC_X_ON_Y, path, Reachable(), w.markers_y()))
    if route.name == "admin:autocomplete":
        # Choices for a miner's owner, searched for tenant C (no miner at site X).
        query = f"?app_label=tenants&model_name=miner&field_name=tenant&term={w.tenant_c.slug}"
        out.append(Probe(route, "GET", NOC_X_ON_Y, path + query, ScopedOrDenied(), w.markers_y()))
    return out


def admin_user_password_probes(route: Route, w: World) -> list[Probe]:
    """UserAdmin's own /password/ page: platform-only, and it changes a password."""
    path, missing = route.fill(id=w.customer_b.pk), route.fill(id=MISSING_ID)
    out = [Probe(route, "GET", ANON, path, LoginRedirect(), w.markers_all())]
    for method in ("GET", "POST"):
        out += [
            Probe(route, method, CUSTOMER_A_ON_B, path, NoAccess(), w.markers_b(), missing),
            Probe(route, method, NOC_X_ON_Y, path, NoAccess(), w.markers_b(), missing),
        ]
    return out


def admin_view_on_site_probes(route: Route, w: World) -> list[Probe]:
    """/admin/r/<content type>/<object>/: must not tell an operator whether another site's object exists."""
    from django.contrib.contenttypes.models import ContentType

    ct = ContentType.objects.get_for_model(Miner).pk
    path, missing = (
        route.fill(content_type_id=ct, object_id=w.miner_b_y.pk),
        route.fill(content_type_id=ct, object_id=MISSING_ID),
    )
    return [
        Probe(route, "GET", ANON, path, LoginRedirect(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_ON_B, path, NoAccess(), w.markers_b(), missing),
        Probe(route, "GET", NOC_X_ON_Y, path, NoAccess(), w.markers_y(), missing),
    ]


# allauth's pages (and the invitation link) act on the caller's own account only: no object of
# anyone else is named in their URLs, and their forms change the caller's own account, so no
# write is sent. A new route under /accounts/ is in neither list, and fails until it is placed.
ACCOUNT_PUBLIC = {
    "account_login",
    "account_logout",
    "account_signup",
    "account_inactive",
    "account_confirm_login_code",
    "account_reset_password",
    "account_reset_password_done",
    "account_reset_password_from_key",
    "account_reset_password_from_key_done",
    "account_email_verification_sent",
    "account_confirm_email",
    "mfa_authenticate",
    "invitation",
    # Google / Microsoft sign-in (allauth.socialaccount over OIDC)
    "openid_connect_login",
    "openid_connect_callback",
    "socialaccount_login_cancelled",
    "socialaccount_login_error",
    "socialaccount_signup",
}
# allauth's deprecated /accounts/social/… paths: redirects to the socialaccount pages above.
ACCOUNT_LEGACY_SOCIAL_PREFIX = "/accounts/social/"
ACCOUNT_SIGNED_IN = {
    "account_email",
    "account_change_password",
    "account_set_password",
    "account_reauthenticate",
    "account_request_reauthentication_code",
    "account_confirm_reauthentication_code",
    "mfa_index",
    "mfa_reauthenticate",
    "mfa_activate_totp",
    "mfa_deactivate_totp",
    "mfa_view_recovery_codes",
    "mfa_generate_recovery_codes",
    "mfa_download_recovery_codes",
    "socialaccount_connections",
}
OWN_ACCOUNT = "forms change the caller's own account only"


def account_public_probes(route: Route, w: World) -> list[Probe]:
    """Anonymous callers get the page (or the login page, or 404 for a bogus key); a signed-in
    customer gets their own account's answer, with nobody else's data in it."""
    path = route.fill(key=f"{w.tag}-bogus", uidb36="1", token=f"{w.tag}-bogus", provider_id="microsoft")
    if path.endswith("/login/error/"):  # allauth's "third-party login failure" page answers 401
        error_page = Reachable(statuses=(200, 401), label_text="sign-in error page")
        return [
            Probe(route, "GET", ANON, path, error_page, w.markers_all()),
            Probe(route, "GET", CUSTOMER_A_OWN, path, error_page, w.markers_b()),
        ]
    return [
        Probe(
            route, "GET", ANON, path, Reachable(statuses=(200, 404), label_text="login or public page"), w.markers_all()
        ),
        Probe(route, "GET", CUSTOMER_A_OWN, path, SELF_SERVICE, w.markers_b()),
    ]


def account_signed_in_probes(route: Route, w: World) -> list[Probe]:
    path = route.fill()
    return [
        Probe(route, "GET", ANON, path, LoginRedirect(), w.markers_all()),
        Probe(route, "GET", CUSTOMER_A_OWN, path, SELF_SERVICE, w.markers_b()),
    ]
