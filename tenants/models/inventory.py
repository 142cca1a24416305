from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

code_validator = RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", "letters, digits, '-', '_' and '.' only")


def _zone_in_site(obj) -> None:
    if obj.zone_id is not None and obj.site_id is not None and obj.zone.site_id != obj.site_id:
        raise ValidationError({"zone": "this zone belongs to another site"})


class Tenant(models.Model):
    """A hosting customer, or the operator itself (is_operator) for self-mining and unassigned miners."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    is_operator = models.BooleanField(
        default=False, help_text="The hosting provider's own tenant; owns unassigned miners."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # Exactly one operator tenant: unknown miners are registered into it.
            models.UniqueConstraint(fields=["is_operator"], condition=Q(is_operator=True), name="one_operator_tenant"),
        ]

    def __str__(self):
        return self.name


class Site(models.Model):
    """A facility. `code` is the immutable public id (X-Site-ID, site_id on the wire)."""

    code = models.CharField(max_length=64, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return self.code


class Zone(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="zones")
    code = models.CharField(max_length=64, validators=[code_validator])
    name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["site_id", "code"]
        constraints = [models.UniqueConstraint(fields=["site", "code"], name="zone_code_unique_per_site")]

    def __str__(self):
        return f"{self.site.code}/{self.code}"


class Miner(models.Model):
    """A device. `miner_id` is the edge's inventory id, unique per site; `tenant` is the current owner."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="miners")
    zone = models.ForeignKey(Zone, on_delete=models.PROTECT, null=True, blank=True, related_name="miners")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="miners")
    miner_id = models.CharField(max_length=128)
    miner_key = models.CharField(max_length=64, blank=True, default="")
    model = models.CharField(max_length=64, blank=True, default="")
    nominal_hashrate_ths = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    nominal_power_w = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["site_id", "miner_id"]
        constraints = [models.UniqueConstraint(fields=["site", "miner_id"], name="miner_id_unique_per_site")]
        indexes = [models.Index(fields=["tenant", "site"])]

    def __str__(self):
        return f"{self.site.code}/{self.miner_id}"

    def clean(self):
        _zone_in_site(self)


class MinerOwnership(models.Model):
    """Ownership history: the open row (valid_to NULL) is the current owner."""

    miner = models.ForeignKey(Miner, on_delete=models.PROTECT, related_name="ownerships")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="ownerships")
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["miner_id", "valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["miner"], condition=Q(valid_to__isnull=True), name="one_open_ownership"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="ownership_valid_range",
            ),
        ]


class MinerGroup(models.Model):
    """A named set of miners of one site, for batch commands."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="miner_groups")
    name = models.CharField(max_length=200)
    miners = models.ManyToManyField(Miner, related_name="groups", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["site_id", "name"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="group_name_unique_per_site")]

    def __str__(self):
        return f"{self.site.code}/{self.name}"
