"""The NOC console. Only operators get in; every model's rows come from tenants.scoping."""

from functools import update_wrapper

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from tenants.scoping import is_operator


class PlatformOnlyMixin:
    """Third-party admins (users, beat schedules, allauth): platform superusers only."""

    def _platform(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request):
        return self._platform(request)

    def has_view_permission(self, request, obj=None):
        return self._platform(request)

    def has_add_permission(self, request, *args):
        return self._platform(request)

    def has_change_permission(self, request, obj=None):
        return self._platform(request)

    def has_delete_permission(self, request, obj=None):
        return self._platform(request)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # history_view looks the object up before asking permission: a missing id must get the
        # same 403 as an existing one (SPEC §2), or the page tells whether the row exists.
        raise PermissionDenied


class HashInsightAdminSite(admin.AdminSite):
    site_header = "HashInsight NOC"
    site_title = "HashInsight NOC"
    index_title = "Fleet, inventory and audit"

    def has_permission(self, request):
        return request.user.is_active and is_operator(request.user)

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def guarded(request, *args, **kwargs):
            # A signed-in customer gets a plain 403, not a detour through the login page.
            if (
                request.user.is_authenticated
                and not self.has_permission(request)
                and request.path != reverse("admin:logout", current_app=self.name)
            ):
                raise PermissionDenied("the NOC console is for operators")
            return inner(request, *args, **kwargs)

        return update_wrapper(guarded, inner)

    def get_urls(self):
        from django.urls import path

        # contenttypes' shortcut redirects to any object's URL without asking tenants.scoping:
        # shadow it (same name, matched first) with a platform-only version.
        return [
            path(
                "r/<path:content_type_id>/<path:object_id>/", self.admin_view(self._view_on_site), name="view_on_site"
            ),
            *super().get_urls(),
        ]

    def _view_on_site(self, request, content_type_id, object_id):
        from django.contrib.contenttypes.views import shortcut

        if not request.user.is_superuser:
            raise PermissionDenied
        return shortcut(request, content_type_id, object_id)

    def login(self, request, extra_context=None):
        # The admin logs in through allauth, so throttling, lockout and MFA apply here too.
        next_url = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = reverse("admin:index", current_app=self.name)
        if request.user.is_authenticated:
            if self.has_permission(request):
                return redirect(next_url)
            raise PermissionDenied("the NOC console is for operators")
        return redirect(reverse("account_login") + "?" + urlencode({"next": next_url}))

    def register(self, model_or_iterable, admin_class=None, **options):
        from tenants.admin_base import ScopedModelAdmin

        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, ScopedModelAdmin):
            admin_class = type(f"PlatformOnly{admin_class.__name__}", (PlatformOnlyMixin, admin_class), {})
        return super().register(model_or_iterable, admin_class, **options)
