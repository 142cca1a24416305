from django.db import models


class CommandSigningKey(models.Model):
    """Per-collector HMAC signing of handed-out commands (SPEC §4, optional).

    No secret is stored: the collector's secret is derived from SECRET_KEY and this row's salt
    (control.services.signing), so a database dump does not hold it and a new salt rotates it.
    Signing is on for a collector while `enabled`; control.services.signing turns it on or off for
    a whole site at once, audited."""

    collector = models.OneToOneField("tenants.Collector", on_delete=models.PROTECT, related_name="+")
    salt = models.CharField(max_length=64, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    changed_at = models.DateTimeField()

    def __str__(self):
        return f"signing key of collector {self.collector_id} ({'on' if self.enabled else 'off'})"
