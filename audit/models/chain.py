import pgtrigger
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KeyTransform

GENESIS_HASH = "0" * 64


class AppendOnlyError(Exception):
    pass


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} is append-only")

    def delete(self):
        raise AppendOnlyError(f"{self.model.__name__} is append-only")


def _no_truncate(name: str) -> pgtrigger.Trigger:
    # TRUNCATE fires no row trigger, so a statement-level one refuses it separately.
    return pgtrigger.Trigger(
        name=name,
        level=pgtrigger.Statement,
        when=pgtrigger.Before,
        operation=pgtrigger.Truncate,
        func="RAISE EXCEPTION 'pgtrigger: Cannot truncate % table', TG_TABLE_NAME; RETURN NULL;",
    )


class AuditChain(models.Model):
    """The head of one chain. Appends lock this row, so a chain cannot fork."""

    key = models.CharField(max_length=96, primary_key=True)  # tenant:<id> | site:<code> | platform
    head_seq = models.BigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    head_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.key


class AuditEvent(models.Model):
    """One append-only, hash-chained record of a state change.

    hash = SHA256(prev_hash + canonical_json(event)); see docs/ARCHITECTURE.md ("Audit chain").
    """

    chain_key = models.CharField(max_length=96)
    seq = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    actor_type = models.CharField(max_length=16)  # user | collector | system
    actor_id = models.CharField(max_length=128)
    actor_label = models.CharField(max_length=255, blank=True, default="")
    action = models.CharField(max_length=128)
    entity_type = models.CharField(max_length=64)
    entity_id = models.CharField(max_length=128)
    tenant_id = models.BigIntegerField(null=True, blank=True)
    site_code = models.CharField(max_length=64, null=True, blank=True)
    payload = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["chain_key", "seq"]
        constraints = [models.UniqueConstraint(fields=["chain_key", "seq"], name="audit_event_chain_seq_unique")]
        indexes = [
            models.Index(fields=["entity_type", "entity_id"], name="audit_entity_idx"),
            models.Index(fields=["tenant_id", "occurred_at"], name="audit_tenant_time_idx"),
            models.Index(fields=["site_code", "occurred_at"], name="audit_site_time_idx"),
            models.Index(fields=["occurred_at"], name="audit_time_idx"),
            models.Index(fields=["action"], name="audit_action_idx"),
            # Events about several entities list them under payload "refs" (audit.services.REFS_KEY).
            GinIndex(
                OpClass(KeyTransform("refs", "payload"), name="jsonb_path_ops"),
                name="audit_refs_idx",
                condition=Q(payload__has_key="refs"),
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="audit_event_no_update", operation=pgtrigger.Update),
            # The retention purge (audit.services.audit_purge_expired) is the one path that
            # ignores this trigger, and only for whole sealed segments.
            pgtrigger.Protect(name="audit_event_no_delete", operation=pgtrigger.Delete),
            _no_truncate("audit_event_no_truncate"),
        ]

    def __str__(self):
        return f"{self.chain_key}#{self.seq} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events are append-only")

    def canonical_fields(self) -> dict:
        """The hashed content of this event, keyed as in the canonical form (audit.canonical)."""
        return {
            "chain": self.chain_key,
            "seq": self.seq,
            "occurred_at": self.occurred_at,
            "actor_type": self.actor_type,
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "tenant_id": self.tenant_id,
            "site": self.site_code,
            "payload": self.payload,
        }


class AuditCheckpoint(models.Model):
    """A sealed segment of one chain (one calendar month, UTC). Kept forever, exportable.

    Retention drops the events of whole sealed segments; the checkpoint keeps the segment's
    last hash, so the first surviving event still links to something verifiable.
    """

    chain_key = models.CharField(max_length=96)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    event_count = models.BigIntegerField()
    first_prev_hash = models.CharField(max_length=64)
    last_hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField()
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["chain_key", "first_seq"]
        constraints = [
            models.UniqueConstraint(fields=["chain_key", "first_seq"], name="audit_checkpoint_unique"),
            models.CheckConstraint(
                condition=models.Q(last_seq__gte=models.F("first_seq")), name="audit_checkpoint_range"
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="audit_checkpoint_no_delete", operation=pgtrigger.Delete),
            # Only purged_at may change (set once by the purge); everything sealed stays as sealed.
            pgtrigger.ReadOnly(name="audit_checkpoint_sealed", exclude=["purged_at"]),
            _no_truncate("audit_checkpoint_no_truncate"),
        ]

    def __str__(self):
        return f"{self.chain_key} {self.first_seq}-{self.last_seq}"
