"""Admin for the customer consent policy (control.services.consent): operators of a tenant's sites
edit which command types need its owner's approval; every save is audited (inventory_save)."""

from django.contrib import admin

from control.models import ConsentPolicy
from control.selectors import consent_policies_for
from tenants import scoping
from tenants.admin_base import ScopedModelAdmin


@admin.register(ConsentPolicy)
class ConsentPolicyAdmin(ScopedModelAdmin):
    scoped = consent_policies_for
    scoped_choices = {"tenant": scoping.tenants_for}
    list_display = ("tenant", "consent_types", "customer_types", "updated_at")
    fields = ("tenant", "consent_types", "customer_types")
