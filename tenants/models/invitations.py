from django.conf import settings
from django.db import models

from .access import Role


class Invitation(models.Model):
    """Sign-up is by invitation only: an operator invites an email address into a role at a scope."""

    email = models.EmailField()
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    role = models.CharField(max_length=32, choices=Role.choices)
    all_sites = models.BooleanField(default=False)
    site = models.ForeignKey("tenants.Site", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    zone = models.ForeignKey("tenants.Zone", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.email} as {self.get_role_display()}"
