from django.conf import settings
from django.db import models
from django.utils import timezone


class PersonalToken(models.Model):
    """A person's API token for scripts and curl (SPEC §3). Only its SHA-256 is stored; the
    plaintext is shown once. It carries no scope of its own: a request with it is its owner's,
    scoped by the owner's grants as they are at that moment."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="personal_tokens")
    name = models.CharField(max_length=128)
    prefix = models.CharField(max_length=16, unique=True, help_text="First characters of the token: the lookup key.")
    token_hash = models.CharField(max_length=64, editable=False)
    read_only = models.BooleanField(default=False, help_text="Only GET, HEAD and OPTIONS requests.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.prefix}… ({self.name})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()
