from django.conf import settings
from django.db import models
from django.db.models import Q

from .access import Role

#: Roles an object grant may carry: a Customer on miner groups, an operator role (no grant
#: managers) on one zone.
ZONE_GRANT_ROLES = (Role.TECHNICIAN, Role.NOC, Role.CUSTOMER_SUCCESS)


class ObjectGrant(models.Model):
    """A per-object grant for what role grants do not cover (docs/SECURITY.md "Object grants").

    Two shapes: a Customer limited to one miner group of one tenant (sees that group's miners of
    that tenant, nothing else of it), or an operator role on one zone, typically a contractor for a
    week (`expires_at`). Live while neither revoked, expired (by the beat job) nor past
    `expires_at` — tenants.scoping checks the time itself on every read. Each live grant is
    mirrored as a django-guardian UserObjectPermission (tenants.object_grants)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="object_grants")
    role = models.CharField(max_length=32, choices=Role.choices)
    zone = models.ForeignKey("tenants.Zone", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    miner_group = models.ForeignKey(
        "tenants.MinerGroup", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.CharField(max_length=255, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until revoked.")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    granted_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    expired_at = models.DateTimeField(null=True, blank=True, help_text="Set by the beat job once past expires_at.")

    class Meta:
        ordering = ["user_id", "-granted_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="object_grant_shape",
                condition=(
                    Q(role=Role.CUSTOMER, miner_group__isnull=False, tenant__isnull=False, zone__isnull=True)
                    | Q(
                        role__in=list(ZONE_GRANT_ROLES),
                        zone__isnull=False,
                        miner_group__isnull=True,
                        tenant__isnull=True,
                    )
                ),
            ),
        ]
        indexes = [models.Index(fields=["user"], condition=Q(revoked_at__isnull=True), name="object_grant_live_idx")]

    def __str__(self):
        target = f"zone {self.zone}" if self.zone_id else f"group {self.miner_group} of {self.tenant}"
        return f"{self.user} · {self.get_role_display()} · {target}"

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expired_at is not None:
            return "expired"
        return "live"
