"""The NOC console. Only operators get in; every model's rows come from tenants.scoping."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

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


class HashInsightAdminSite(admin.AdminSite):
    site_header = "HashInsight NOC"
    site_title = "HashInsight NOC"
    index_title = "Fleet, inventory and audit"

    def has_permission(self, request):
        return request.user.is_active and is_operator(request.user)

    def login(self, request, extra_context=None):
        # The admin logs in through allauth, so throttling, lockout and MFA apply here too.
        if request.user.is_authenticated:
            if self.has_permission(request):
                return redirect(request.GET.get("next") or reverse("admin:index"))
            raise PermissionDenied("the NOC console is for operators")
        return redirect(reverse("account_login") + "?" + urlencode({"next": request.GET.get("next") or reverse("admin:index")}))

    def register(self, model_or_iterable, admin_class=None, **options):
        from hashinsight.admin_base import ScopedModelAdmin

        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, ScopedModelAdmin):
            admin_class = type(f"PlatformOnly{admin_class.__name__}", (PlatformOnlyMixin, admin_class), {})
        return super().register(model_or_iterable, admin_class, **options)
