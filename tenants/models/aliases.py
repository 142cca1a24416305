from django.conf import settings
from django.db import models


class SiteAlias(models.Model):
    """Another name a collector may call its site by (X-Site-ID, envelope site_id, path/query site
    ids): the original application's numeric id, or a `site_id` string configured on the edge.

    An alias names one site, compared exactly as the collector sends it (case-sensitive)."""

    class Kind(models.TextChoices):
        LEGACY_ID = "legacy_id", "original numeric id"
        CONFIGURED = "configured", "configured site_id"

    site = models.ForeignKey("tenants.Site", on_delete=models.CASCADE, related_name="aliases")
    value = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CONFIGURED)
    note = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["site_id", "value"]
        verbose_name_plural = "site aliases"
        constraints = [
            models.UniqueConstraint(fields=["value"], name="site_alias_value_unique"),
            models.CheckConstraint(condition=~models.Q(value=""), name="site_alias_value_not_empty"),
        ]

    def __str__(self):
        return self.value
