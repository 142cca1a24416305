from django.db import models


class ImportedRow(models.Model):
    """Which object a row of another database became (switch-over import, manage.py
    import_original): a re-run finds it here and creates nothing new."""

    source = models.CharField(max_length=64)  # the original database's name
    source_table = models.CharField(max_length=64)
    source_id = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)  # app_label.model
    target_id = models.CharField(max_length=64)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "source_table", "source_id"], name="imported_row_unique")
        ]

    def __str__(self):
        return f"{self.source}.{self.source_table}#{self.source_id} → {self.target_type}#{self.target_id}"


class ImportCheckpoint(models.Model):
    """How far an import of a large table (telemetry history) got: the last source id committed.
    An interrupted run continues after it."""

    source = models.CharField(max_length=64)
    source_table = models.CharField(max_length=64)
    last_id = models.BigIntegerField(default=0)
    rows = models.BigIntegerField(default=0)  # source rows read up to last_id, over all runs
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "source_table"], name="import_checkpoint_unique")]

    def __str__(self):
        return f"{self.source}.{self.source_table} ≤ {self.last_id}"
