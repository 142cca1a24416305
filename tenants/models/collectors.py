from django.conf import settings
from django.db import models
from django.db.models import Q


class Collector(models.Model):
    """An edge agent bound to a site (optionally a zone)."""

    site = models.ForeignKey("tenants.Site", on_delete=models.PROTECT, related_name="collectors")
    zone = models.ForeignKey("tenants.Zone", on_delete=models.PROTECT, null=True, blank=True, related_name="collectors")
    name = models.CharField(max_length=128)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Its newest command poll (legacy or v1), written at most once per
    # COLLECTOR_TOKEN_LAST_USED_RESOLUTION_SEC like a token's last_used_at: the durable copy of the
    # exact time every poll keeps in Redis (tenants.collector_last_poll, the collector's status).
    last_poll_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["site_id", "name"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="collector_name_unique_per_site")]

    def __str__(self):
        return f"{self.site.code}/{self.name}"

    def clean(self):
        from .inventory import _zone_in_site

        _zone_in_site(self)


class CollectorToken(models.Model):
    """A collector credential. Only its SHA-256 is stored; the plaintext is shown once at creation.

    Several tokens of one collector may be active at once, which is how rotation works. A `legacy`
    token is a key imported from the original application, which stored the same SHA-256 of the
    key: the hash comes across, the plaintext never existed here.
    """

    class Kind(models.TextChoices):
        TOKEN = "token", "token"
        LEGACY = "legacy", "legacy key"

    collector = models.ForeignKey(Collector, on_delete=models.PROTECT, related_name="tokens")
    prefix = models.CharField(max_length=16, help_text="First characters of the token, to tell tokens apart.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    label = models.CharField(max_length=128, blank=True, default="")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TOKEN)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["collector"], condition=Q(revoked_at__isnull=True), name="active_tokens_idx")]

    def __str__(self):
        return f"{self.prefix}… ({self.collector})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class CollectorDevice(models.Model):
    """An X-Device-ID a token was used from; the first sighting is an audit event."""

    token = models.ForeignKey(CollectorToken, on_delete=models.PROTECT, related_name="devices")
    device_id = models.CharField(max_length=128)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    # What it says it runs: the User-Agent of its newest request, and the version of its newest
    # /api/edge/v1/register ("" when it never registered). The collector's status lists both.
    user_agent = models.CharField(max_length=256, blank=True, default="", db_default="")
    version = models.CharField(max_length=64, blank=True, default="", db_default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "device_id"], name="device_unique_per_token")]
