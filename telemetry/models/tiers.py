"""The telemetry tiers of SPEC §5.

The raw and 1-minute tiers are PostgreSQL tables partitioned by day on their time column
(created by migration 0001 with RunSQL; partitions are created ahead and dropped by retention in
telemetry.partitions). Every key starts with the site, so the tables can later be distributed by
site (Citus) without a cross-site hot query. Miners are referenced by their database id
(tenants.Miner.pk) — the edge's miner_id string appears only on the wire.

Django 5.2's CompositePrimaryKey describes the keys; the raw and 1-minute models are
`managed = False` because Django cannot create partitioned tables itself (RunSQL does).
"""

from django.contrib.postgres.fields import ArrayField
from django.db import models


class _Sample(models.Model):
    """The measured fields of one record (§2.2 of the collector protocol), as stored."""

    online = models.BooleanField()
    hashrate_ghs = models.FloatField(null=True)  # average since the miner started
    hashrate_5s_ghs = models.FloatField(null=True)  # current hashrate: use this one
    temperature_avg = models.FloatField(null=True)  # polluted by counter fields: do not alert on it
    temperature_max = models.FloatField(null=True)  # thermal figure of record
    frequency_avg = models.FloatField(null=True)
    fan_speeds = ArrayField(models.IntegerField(), default=list)
    accepted_shares = models.BigIntegerField(null=True)
    rejected_shares = models.BigIntegerField(null=True)
    hardware_errors = models.BigIntegerField(null=True)
    uptime_seconds = models.BigIntegerField(null=True)
    pool_url = models.TextField(default="", blank=True)
    worker_name = models.TextField(default="", blank=True)
    error_message = models.TextField(default="", blank=True)

    class Meta:
        abstract = True


class TelemetryLive(_Sample):
    """One row per miner: its newest sample. An older sample never overwrites a newer one;
    pool_url/worker_name keep the last known non-empty value (latest cycles send "")."""

    miner = models.OneToOneField("tenants.Miner", on_delete=models.CASCADE, primary_key=True, related_name="live")
    site = models.ForeignKey("tenants.Site", on_delete=models.CASCADE, related_name="+", db_index=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False)
    ts = models.DateTimeField()
    received_at = models.DateTimeField()
    device_id = models.CharField(max_length=128, default="", blank=True)
    temperature_chips = ArrayField(models.FloatField(), default=list)

    class Meta:
        db_table = "telemetry_live"
        indexes = [models.Index(fields=["site", "tenant"], name="live_site_tenant_idx")]


class TelemetryRaw(_Sample):
    """Every accepted sample, unique per (site, miner, ts): a replay inserts nothing."""

    pk = models.CompositePrimaryKey("site_id", "miner_id", "ts")
    site = models.ForeignKey("tenants.Site", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    miner = models.ForeignKey("tenants.Miner", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    ts = models.DateTimeField()
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    received_at = models.DateTimeField()
    batch = models.ForeignKey(
        "telemetry.IngestBatch", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    device_id = models.CharField(max_length=128, default="")
    mode = models.CharField(max_length=16, default="")
    temperature_chips = ArrayField(models.FloatField(), default=list)

    class Meta:
        managed = False
        db_table = "telemetry_raw"


class _Aggregate(models.Model):
    """Aggregates of the samples in one bucket, for one miner and the owner at sample time."""

    samples = models.IntegerField()
    online_samples = models.IntegerField()
    hashrate_5s_sum = models.FloatField()  # over online samples with a value
    hashrate_5s_count = models.IntegerField()
    hashrate_5s_max = models.FloatField(null=True)
    temperature_max_max = models.FloatField(null=True)
    temperature_max_sum = models.FloatField()
    temperature_max_count = models.IntegerField()
    frequency_sum = models.FloatField()
    frequency_count = models.IntegerField()
    first_ts = models.DateTimeField()
    last_ts = models.DateTimeField()
    revision = models.IntegerField(default=0)  # > 0: recomputed after late data reached a closed bucket
    corrected = models.BooleanField(default=False)
    updated_at = models.DateTimeField()

    class Meta:
        abstract = True


class Telemetry1m(_Aggregate):
    pk = models.CompositePrimaryKey("site_id", "tenant_id", "miner_id", "bucket")
    site = models.ForeignKey("tenants.Site", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    miner = models.ForeignKey("tenants.Miner", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    bucket = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "telemetry_1m"


class Telemetry15m(_Aggregate):
    pk = models.CompositePrimaryKey("site_id", "tenant_id", "miner_id", "bucket")
    site = models.ForeignKey(
        "tenants.Site", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    miner = models.ForeignKey(
        "tenants.Miner", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    bucket = models.DateTimeField()

    class Meta:
        db_table = "telemetry_15m"
        indexes = [
            models.Index(fields=["miner", "bucket"], name="t15m_miner_bucket_idx"),
            models.Index(fields=["site", "bucket"], name="t15m_site_bucket_idx"),  # site history reads
        ]


class TelemetryDaily(_Aggregate):
    pk = models.CompositePrimaryKey("site_id", "tenant_id", "miner_id", "day")
    site = models.ForeignKey(
        "tenants.Site", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    miner = models.ForeignKey(
        "tenants.Miner", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    day = models.DateField()

    class Meta:
        db_table = "telemetry_daily"
        indexes = [
            models.Index(fields=["miner", "day"], name="tdaily_miner_day_idx"),
            models.Index(fields=["site", "day"], name="tdaily_site_day_idx"),  # site history reads
        ]


TIER_MODELS = {
    "live": TelemetryLive,
    "raw": TelemetryRaw,
    "1m": Telemetry1m,
    "15m": Telemetry15m,
    "daily": TelemetryDaily,
}
