from django.db import models


class RollupWatermark(models.Model):
    """Where one rollup tier (15m, daily) stands. The run that moves it holds its row lock, so
    two runs of one tier never interleave.

    `closed_through`: every bucket starting before it was rolled up when it closed.
    `changed_through`: source (1m) changes made before it were applied; the next run re-reads
    from a little earlier (TELEMETRY_ROLLUP_OVERLAP_SEC), so late commits are not missed.
    """

    tier = models.CharField(max_length=16, primary_key=True)
    closed_through = models.DateTimeField(null=True, blank=True)
    changed_through = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "telemetry_rollup_watermark"

    def __str__(self):
        return f"{self.tier}: closed<{self.closed_through} changed<{self.changed_through}"
