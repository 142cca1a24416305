from django.conf import settings
from django.db import models
from django.db.models import Q


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    OPS_MANAGER = "ops_manager", "OpsManager"
    NOC = "noc", "NOC"
    TECHNICIAN = "technician", "Technician"
    CUSTOMER_SUCCESS = "customer_success", "CustomerSuccess"
    CUSTOMER = "customer", "Customer"


OPERATOR_ROLES = frozenset(r for r in Role if r != Role.CUSTOMER)


class RoleGrant(models.Model):
    """A role given to a user at a scope.

    Operator roles: all sites (all_sites), one site, or one zone. Customer: one tenant, read-only.
    The check constraint keeps every row one of exactly these shapes.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_grants")
    role = models.CharField(max_length=32, choices=Role.choices)
    all_sites = models.BooleanField(default=False)
    site = models.ForeignKey("tenants.Site", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    zone = models.ForeignKey("tenants.Zone", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user_id", "role"]
        constraints = [
            models.CheckConstraint(
                name="grant_scope_shape",
                condition=(
                    Q(role="customer", tenant__isnull=False, site__isnull=True, zone__isnull=True, all_sites=False)
                    | (
                        ~Q(role="customer")
                        & Q(tenant__isnull=True)
                        & (
                            Q(all_sites=True, site__isnull=True, zone__isnull=True)
                            | Q(all_sites=False, site__isnull=False, zone__isnull=True)
                            | Q(all_sites=False, site__isnull=False, zone__isnull=False)
                        )
                    )
                ),
            ),
            models.UniqueConstraint(
                fields=["user", "role", "all_sites", "site", "zone", "tenant"],
                nulls_distinct=False,
                name="grant_unique",
            ),
        ]

    def __str__(self):
        if self.role == Role.CUSTOMER:
            scope = f"tenant {self.tenant}"
        elif self.all_sites:
            scope = "all sites"
        elif self.zone_id:
            scope = f"zone {self.zone}"
        else:
            scope = f"site {self.site}"
        return f"{self.user} · {self.get_role_display()} · {scope}"
