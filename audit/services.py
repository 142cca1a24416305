"""The one way anything is written to the audit log."""

import datetime as dt
from dataclasses import dataclass, field

import orjson
import pgtrigger
import structlog
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from audit.canonical import canonical_bytes, chain_hash, normalize_payload
from audit.models import GENESIS_HASH, AuditChain, AuditCheckpoint, AuditEvent

logger = structlog.get_logger(__name__)

PLATFORM_CHAIN = "platform"


@dataclass(frozen=True)
class Actor:
    """Who did it: a user, a collector, or the system (a named job)."""

    kind: str
    id: str
    label: str = ""

    @classmethod
    def user(cls, user) -> "Actor":
        return cls("user", str(user.pk), user.get_username())

    @classmethod
    def collector(cls, collector, device_id: str = "") -> "Actor":
        label = f"{collector.site.code}/{collector.name}" + (f" device={device_id}" if device_id else "")
        return cls("collector", str(collector.pk), label)

    @classmethod
    def system(cls, name: str) -> "Actor":
        return cls("system", name, name)


@dataclass
class EventSpec:
    """One event to append; the chain follows from tenant/site (tenant wins)."""

    action: str
    entity_type: str
    entity_id: str
    payload: dict = field(default_factory=dict)
    tenant_id: int | None = None
    site_code: str | None = None

    @property
    def chain_key(self) -> str:
        return chain_key_for(tenant_id=self.tenant_id, site_code=self.site_code)


def chain_key_for(*, tenant_id: int | None = None, site_code: str | None = None) -> str:
    if tenant_id is not None:
        return f"tenant:{tenant_id}"
    if site_code:
        return f"site:{site_code}"
    return PLATFORM_CHAIN


def entity_ref(obj) -> tuple[str, str]:
    return f"{obj._meta.app_label}.{obj._meta.model_name}", str(obj.pk)


def audit_record(
    *,
    actor: Actor,
    action: str,
    entity: models.Model | None = None,
    entity_type: str = "",
    entity_id: str = "",
    payload: dict | None = None,
    tenant_id: int | None = None,
    site_code: str | None = None,
) -> AuditEvent:
    if entity is not None:
        entity_type, entity_id = entity_ref(entity)
    spec = EventSpec(action, entity_type, str(entity_id), payload or {}, tenant_id, site_code)
    return audit_record_many(actor=actor, events=[spec])[0]


_EVENT_COLUMNS = (
    "chain_key, seq, occurred_at, actor_type, actor_id, actor_label, action, entity_type, entity_id, "
    "tenant_id, site_code, payload, prev_hash, hash"
)
_EVENT_ROW = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)"
_HEAD_ROW = "(%s, %s::bigint, %s, %s::timestamptz)"


def _lock_heads(cur, keys: list[str]) -> dict[str, tuple[int, str, dt.datetime | None]]:
    """Row-lock the head of every chain in `keys` (sorted), creating missing heads.

    Every append to a chain waits on its head row, which is what keeps seq gap-free and the
    chain unforked. Locks are taken in key order (ORDER BY before FOR UPDATE) so two
    multi-chain appends cannot deadlock; a missing head is inserted after the existing ones are
    locked, in key order too, so two appends that both create heads cannot deadlock either.
    """
    select = "SELECT key, head_seq, head_hash, head_at FROM audit_auditchain WHERE key = ANY(%s) ORDER BY key FOR UPDATE"
    cur.execute(select, [keys])
    heads = {key: (seq, digest, at) for key, seq, digest, at in cur.fetchall()}
    missing = [key for key in keys if key not in heads]
    if missing:
        cur.execute(
            "INSERT INTO audit_auditchain (key, head_seq, head_hash) SELECT k, 0, %s FROM unnest(%s::varchar[]) AS k "
            "ORDER BY k ON CONFLICT (key) DO NOTHING",
            [GENESIS_HASH, missing],
        )
        cur.execute(select, [missing])
        heads.update({key: (seq, digest, at) for key, seq, digest, at in cur.fetchall()})
    return heads


@transaction.atomic
def audit_record_many(*, actor: Actor, events: list[EventSpec]) -> list[AuditEvent]:
    """Append events in the caller's transaction, each to its chain, under one head lock per chain."""
    if not events:
        return []
    now = timezone.now()
    by_chain: dict[str, list[EventSpec]] = {}
    for spec in events:
        by_chain.setdefault(spec.chain_key, []).append(spec)
    keys = sorted(by_chain)
    rows: list[AuditEvent] = []
    params: list = []
    head_params: list = []
    with connection.cursor() as cur:
        heads = _lock_heads(cur, keys)
        for key in keys:
            seq, prev, head_at = heads[key]
            # Never let time run backwards inside a chain (clock skew between app servers).
            at = max(now, head_at) if head_at else now
            for spec in by_chain[key]:
                seq += 1
                payload = normalize_payload(spec.payload)
                row = AuditEvent(
                    chain_key=key,
                    seq=seq,
                    occurred_at=at,
                    actor_type=actor.kind,
                    actor_id=actor.id,
                    actor_label=actor.label,
                    action=spec.action,
                    entity_type=spec.entity_type,
                    entity_id=spec.entity_id,
                    tenant_id=spec.tenant_id,
                    site_code=spec.site_code,
                    payload=payload,
                    prev_hash=prev,
                )
                digest = row.hash = chain_hash(prev, canonical_bytes(**row.canonical_fields()))
                rows.append(row)
                params += [key, seq, at, actor.kind, actor.id, actor.label, spec.action, spec.entity_type, spec.entity_id]
                params += [spec.tenant_id, spec.site_code, orjson.dumps(payload).decode(), prev, digest]
                prev = digest
            head_params += [key, seq, prev, at]
        # One round trip writes the events and moves the heads (a raw INSERT: bulk_create costs
        # more than the hashing for the small batches most services append).
        cur.execute(
            f"WITH head AS (UPDATE audit_auditchain AS c SET head_seq = v.seq, head_hash = v.hash, head_at = v.at "
            f"FROM (VALUES {', '.join([_HEAD_ROW] * len(keys))}) AS v(key, seq, hash, at) WHERE c.key = v.key) "
            f"INSERT INTO audit_auditevent ({_EVENT_COLUMNS}) VALUES {', '.join([_EVENT_ROW] * len(rows))} RETURNING id",
            head_params + params,
        )
        for row, (pk,) in zip(rows, cur.fetchall(), strict=True):
            row.pk = pk
            row._state.adding = False
            row._state.db = connection.alias
    return rows


def _month_start(value: dt.datetime) -> dt.datetime:
    value = value.astimezone(dt.UTC)
    return value.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(value: dt.datetime) -> dt.datetime:
    return (value.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


@transaction.atomic
def audit_seal_segments(*, now: dt.datetime | None = None) -> list[AuditCheckpoint]:
    """Seal every finished calendar month of every chain into a checkpoint. Safe to run twice."""
    now = now or timezone.now()
    current_month = _month_start(now)
    sealed: list[AuditCheckpoint] = []
    for key in AuditChain.objects.order_by("key").values_list("key", flat=True):
        # Lock the head so the segment bounds cannot move under a concurrent append or seal.
        AuditChain.objects.select_for_update().filter(key=key).first()
        last = AuditCheckpoint.objects.filter(chain_key=key).order_by("-last_seq").first()
        after_seq = last.last_seq if last else 0
        months = (
            AuditEvent.objects.filter(chain_key=key, seq__gt=after_seq, occurred_at__lt=current_month)
            .annotate(month=models.functions.TruncMonth("occurred_at", tzinfo=dt.UTC))
            .values("month")
            .annotate(first_seq=models.Min("seq"), last_seq=models.Max("seq"), n=models.Count("id"))
            .order_by("month")
        )
        for m in months:
            first = AuditEvent.objects.only("prev_hash").get(chain_key=key, seq=m["first_seq"])
            last_event = AuditEvent.objects.only("hash").get(chain_key=key, seq=m["last_seq"])
            sealed.append(
                AuditCheckpoint.objects.create(
                    chain_key=key,
                    period_start=m["month"],
                    period_end=_next_month(m["month"]),
                    first_seq=m["first_seq"],
                    last_seq=m["last_seq"],
                    event_count=m["n"],
                    first_prev_hash=first.prev_hash,
                    last_hash=last_event.hash,
                    sealed_at=now,
                )
            )
    if sealed:
        audit_record(
            actor=Actor.system("audit.seal"),
            action="audit.segment.sealed",
            entity_type="audit.chain",
            entity_id="*",
            payload={"segments": [{"chain": c.chain_key, "first_seq": c.first_seq, "last_seq": c.last_seq, "last_hash": c.last_hash} for c in sealed]},
        )
    return sealed


@transaction.atomic
def audit_purge_expired(*, now: dt.datetime | None = None, retention_days: int | None = None) -> int:
    """Delete the events of whole sealed segments older than the retention. Returns events removed."""
    now = now or timezone.now()
    retention_days = retention_days or settings.AUDIT_RETENTION_DAYS
    cutoff = now - dt.timedelta(days=retention_days)
    expired = list(
        AuditCheckpoint.objects.select_for_update()
        .filter(purged_at__isnull=True, period_end__lte=cutoff)
        .order_by("chain_key", "first_seq")
    )
    removed = 0
    purged = []
    for cp in expired:
        with pgtrigger.ignore("audit.AuditEvent:audit_event_no_delete"):
            with connection.cursor() as cur:
                cur.execute(
                    "DELETE FROM audit_auditevent WHERE chain_key = %s AND seq BETWEEN %s AND %s",
                    [cp.chain_key, cp.first_seq, cp.last_seq],
                )
                removed += cur.rowcount
        AuditCheckpoint.objects.filter(pk=cp.pk).update(purged_at=now)
        purged.append({"chain": cp.chain_key, "first_seq": cp.first_seq, "last_seq": cp.last_seq, "period_start": cp.period_start})
    if purged:
        audit_record(
            actor=Actor.system("audit.retention"),
            action="audit.segment.purged",
            entity_type="audit.chain",
            entity_id="*",
            payload={"retention_days": retention_days, "events_removed": removed, "segments": purged},
        )
        logger.info("audit.purged", events_removed=removed, segments=len(purged))
    return removed
