"""What an edge tells the cloud besides telemetry and ACKs, on the original application's
/api/edge/v1 paths: that it is there (register) and what its local safety override did
(COLLECTOR_PROTOCOL §3.5)."""

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit.services import Actor, EventSpec, audit_record, audit_record_many, entity_ref
from control.models import EdgeSafetyEvent
from core.errors import InvalidParameter
from tenants.models import Miner
from tenants.services import collector_token_touch

SAFETY_BATCH_MAX = 1000
_TEXT_MAX = 2000


def edge_register(*, principal, edge_id: str, zone_id: str = "", version: str = "") -> None:
    """An edge announces itself: its device id joins its token's devices (first sight audited by
    tenants), and the announcement — device, version, zone it says it serves — is audited."""
    edge_id = (edge_id or "").strip()[:128]
    if not edge_id:
        raise InvalidParameter("edge_id is required", field="edge_id")
    collector = principal.collector
    version = str(version or "")[:64]
    collector_token_touch(token=principal.token, device_id=edge_id, resolution_sec=0, version=version)
    audit_record(
        actor=Actor.collector(collector, edge_id),
        action="control.edge.registered",
        entity=collector,
        payload={"edge_id": edge_id, "version": version, "zone_id": str(zone_id or "")[:64]},
        site_code=collector.site.code,
    )


@dataclass
class SafetyBatchResult:
    received_at: dt.datetime
    processed: int = 0
    errors: list[dict] = field(default_factory=list)


def _parse_ts(value) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    ts = parse_datetime(value.strip())
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)  # the edge's times are UTC


def _event_or_error(raw, miners: dict[str, Miner]) -> tuple[dict | None, str]:
    if not isinstance(raw, dict):
        return None, "an event is a JSON object"
    for name in ("action", "reason", "ts"):
        if not raw.get(name):
            return None, f"{name} is required"
    ts = _parse_ts(raw["ts"])
    if ts is None:
        return None, f"Invalid timestamp format: {raw['ts']}"
    temp = raw.get("temp_max")
    if temp is not None and (isinstance(temp, bool) or not isinstance(temp, int | float)):
        return None, "temp_max must be a number"
    ref = "" if raw.get("miner_id") is None else str(raw["miner_id"])[:128]
    snapshot = raw.get("snapshot_json")
    return {
        "miner": miners.get(ref),
        "miner_ref": ref,
        "action": str(raw["action"])[:64],
        "reason": str(raw["reason"])[:_TEXT_MAX],
        "temp_max": temp,
        "ts": ts,
        "snapshot": snapshot if isinstance(snapshot, dict | list) or snapshot is None else str(snapshot),
    }, ""


@transaction.atomic
def safety_events_record(*, principal, events: object) -> SafetyBatchResult:
    """Store the edge's safety actions (one row each) with one audit event per action on the
    site's chain; events that lack action, reason or a readable ts are refused one by one."""
    if not isinstance(events, list) or not events:
        raise InvalidParameter("No events provided", field="events")
    if len(events) > SAFETY_BATCH_MAX:
        raise InvalidParameter(f"at most {SAFETY_BATCH_MAX} events a batch", field="events")
    collector, site = principal.collector, principal.collector.site
    refs = {str(e.get("miner_id")) for e in events if isinstance(e, dict) and e.get("miner_id") is not None}
    miners = {m.miner_id: m for m in Miner.objects.filter(site=site, miner_id__in=refs)}
    result = SafetyBatchResult(received_at=timezone.now())
    rows = []
    for raw in events:
        fields, error = _event_or_error(raw, miners)
        if fields is None:
            miner_ref = raw.get("miner_id") if isinstance(raw, dict) else None
            result.errors.append({"miner_id": miner_ref, "error": error})
            continue
        rows.append(
            EdgeSafetyEvent(
                site=site, collector=collector, device_id=principal.device_id, received_at=result.received_at, **fields
            )
        )
    created = EdgeSafetyEvent.objects.bulk_create(rows)
    result.processed = len(created)
    audit_record_many(
        actor=Actor.collector(collector, principal.device_id),
        events=[
            EventSpec(
                action="control.safety_event.recorded",
                entity_type=entity_ref(e)[0],
                entity_id=entity_ref(e)[1],
                payload={
                    "miner_id": e.miner_ref,
                    "action": e.action,
                    "reason": e.reason,
                    "temp_max": e.temp_max,
                    "event_ts": e.ts.isoformat(),
                },
                site_code=site.code,
            )
            for e in created
        ],
    )
    return result
