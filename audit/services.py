"""The one way anything is written to the audit log."""

import datetime as dt
from dataclasses import dataclass, field

import orjson
import pgtrigger
import structlog
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from audit.canonical import canonical_bytes, chain_hash, format_ts, normalize_payload
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
_EVENT_FIELDS = tuple(_EVENT_COLUMNS.split(", "))
_EVENT_ROW = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)"
# From this many events on they arrive as one JSON array: a 100-event append as VALUES was 1,400
# parameters to quote and parse, most of the time the chain head stayed locked; a few events are
# cheaper as VALUES.
_JSON_FROM = 8
_EVENT_RECORD = (
    "chain_key text, seq bigint, occurred_at timestamptz, actor_type text, actor_id text, actor_label text, action text, "
    "entity_type text, entity_id text, tenant_id bigint, site_code text, payload jsonb, prev_hash text, hash text"
)
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


@transaction.atomic(savepoint=False)
def audit_record_many(*, actor: Actor, events: list[EventSpec]) -> list[AuditEvent]:
    """Append events in the caller's transaction, each to its chain, under one head lock per chain.

    The head lock is held to the end of the caller's transaction, so every append to a busy chain
    waits for the one before it to commit; the work done under it is kept to what needs the
    head: the events are built (payloads normalised, rows and their INSERT parameters made)
    before the lock, and under it only seq, time, prev_hash and the hash are filled in, then one
    statement writes them. No savepoint: an append that fails must fail the caller's transaction
    (a transition without its audit event must not commit), and the RELEASE was one more round
    trip under the lock."""
    if not events:
        return []
    now = timezone.now()
    json_rows = len(events) >= _JSON_FROM
    by_chain: dict[str, list[tuple[AuditEvent, dict]]] = {}
    for spec in events:
        key = spec.chain_key
        payload = normalize_payload(spec.payload)
        payload_json = orjson.dumps(payload)
        row = AuditEvent(
            chain_key=key,
            actor_type=actor.kind,
            actor_id=actor.id,
            actor_label=actor.label,
            action=spec.action,
            entity_type=spec.entity_type,
            entity_id=spec.entity_id,
            tenant_id=spec.tenant_id,
            site_code=spec.site_code,
            payload=payload,
        )
        record = {
            "chain_key": key, "actor_type": actor.kind, "actor_id": actor.id, "actor_label": actor.label,
            "action": spec.action, "entity_type": spec.entity_type, "entity_id": spec.entity_id,
            "tenant_id": spec.tenant_id, "site_code": spec.site_code,
            # the JSON text for VALUES; in the JSON array it is embedded as is (not as a string)
            "payload": orjson.Fragment(payload_json) if json_rows else payload_json.decode(),
        }  # fmt: skip
        by_chain.setdefault(key, []).append((row, record))
    keys = sorted(by_chain)
    rows: dict[tuple[str, int], AuditEvent] = {}
    records: list[dict] = []
    head_params: list = []
    with connection.cursor() as cur:
        heads = _lock_heads(cur, keys)
        for key in keys:
            seq, prev, head_at = heads[key]
            # Never let time run backwards inside a chain (clock skew between app servers).
            at = max(now, head_at) if head_at else now
            at_text = format_ts(at)
            for row, record in by_chain[key]:
                seq += 1
                row.seq, row.occurred_at, row.prev_hash = seq, at, prev
                fields = row.canonical_fields()
                fields["occurred_at"] = at_text  # what canonical_bytes would format, once per chain
                digest = row.hash = chain_hash(prev, canonical_bytes(**fields))
                record |= {"seq": seq, "occurred_at": at, "prev_hash": prev, "hash": digest}
                rows[key, seq] = row
                records.append(record)
                prev = digest
            head_params += [key, seq, prev, at]
        # One round trip writes the events and moves the heads (a raw INSERT: bulk_create costs
        # more than the hashing for the small batches most services append).
        if not json_rows:
            source = f"VALUES {', '.join([_EVENT_ROW] * len(records))}"
            params = [r[c] for r in records for c in _EVENT_FIELDS]
        else:
            source = f"SELECT {_EVENT_COLUMNS} FROM jsonb_to_recordset(%s::jsonb) AS r({_EVENT_RECORD})"
            params = [orjson.dumps(records).decode()]
        cur.execute(
            f"WITH head AS (UPDATE audit_auditchain AS c SET head_seq = v.seq, head_hash = v.hash, head_at = v.at "
            f"FROM (VALUES {', '.join([_HEAD_ROW] * len(keys))}) AS v(key, seq, hash, at) WHERE c.key = v.key) "
            f"INSERT INTO audit_auditevent ({_EVENT_COLUMNS}) {source} RETURNING id, chain_key, seq",
            head_params + params,
        )
        for pk, key, seq in cur.fetchall():
            row = rows[key, seq]
            row.pk = pk
            row._state.adding = False
            row._state.db = connection.alias
    return list(rows.values())


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
