"""Customer consent (SPEC §6 item 9, §10): per tenant, which command types on its miners also
need the owner's approval, and which types its customers may propose themselves."""

from django.contrib.postgres.fields import ArrayField
from django.db import models

from .commands import CommandType


class ConsentPolicy(models.Model):
    """One row per tenant; no row means no owner step and no customer proposals."""

    tenant = models.OneToOneField("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    consent_types = ArrayField(
        models.CharField(max_length=32, choices=CommandType.choices),
        default=list,
        blank=True,
        help_text="Command types that also need the owner's (a customer user's) approval on this tenant's miners.",
    )
    customer_types = ArrayField(
        models.CharField(max_length=32, choices=CommandType.choices),
        default=list,
        blank=True,
        help_text="Command types this tenant's customers may propose on their own miners (operators approve).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "customer consent policy"
        verbose_name_plural = "customer consent policies"

    def __str__(self):
        return f"consent policy of tenant {self.tenant_id}"
