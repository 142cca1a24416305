"""What an operator checks first when a site looks dark, per collector (SPEC §4.1, §5): its last
upload and last poll, the devices and versions it was seen with, its upload receipts of the last
hour with the rejected records counted by error_code, and the encrypted uploads it has waiting.
control.selectors_collector_status adds the unknown ACKs (a higher floor's table).

The callers scope the collector ids (the token's own collector, or tenants.scoping.collectors_for);
every figure is one statement for any number of collectors, each over an index led by the
collector: ingest_collector_time_idx, quarantine_open_idx, device_unique_per_token. last_poll is
the exact time of the newest poll (tenants.collector_last_poll: Redis, the column as fallback).
"""

import datetime as dt
from collections import defaultdict

from django.db import connection
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from telemetry.models import IngestBatch, QuarantinedBatch, QuarantineStatus
from telemetry.selectors import stale_cutoff
from tenants.collector_last_poll import last_poll_many
from tenants.models import Collector, CollectorDevice

WINDOW = dt.timedelta(hours=1)

# Counts by error_code over the window's receipts that rejected anything (most reject nothing).
_REJECTED_CODES_SQL = """
SELECT b.collector_id, r.key, sum(r.value::bigint)
FROM telemetry_ingestbatch b CROSS JOIN LATERAL jsonb_each_text(b.rejected_codes) r
WHERE b.collector_id = ANY(%s) AND b.received_at >= %s AND b.rejected > 0
GROUP BY 1, 2
"""


def _uploads(ids: list[int], since: dt.datetime) -> dict[int, dict]:
    out: dict[int, dict] = {}
    rows = (
        IngestBatch.objects.filter(collector_id__in=ids, received_at__gte=since)
        .order_by()
        .values("collector_id", "endpoint", "body_format")
        .annotate(
            uploads=Count("pk"),
            records=Sum("record_count"),
            accepted=Sum("accepted"),
            rejected=Sum("rejected"),
            duplicates=Sum("duplicates"),
        )
    )
    for row in rows:
        agg = out.setdefault(row["collector_id"], _no_uploads())
        for key in ("uploads", "records", "accepted", "rejected", "duplicates"):
            agg[key] += row[key] or 0
        channel = f"{row['endpoint']}/{row['body_format']}"
        agg["channels"][channel] = agg["channels"].get(channel, 0) + row["uploads"]
    return out


def _no_uploads() -> dict:
    return {"uploads": 0, "records": 0, "accepted": 0, "rejected": 0, "duplicates": 0, "channels": {}}


def _rejected_codes(ids: list[int], since: dt.datetime) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(_REJECTED_CODES_SQL, [ids, since])
        for collector_id, code, n in cursor.fetchall():
            out[collector_id][code] = int(n)
    return {pk: dict(sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))) for pk, codes in out.items()}


def _devices(ids: list[int]) -> dict[int, list[dict]]:
    """Each X-Device-ID once per collector (a device may have used several of its tokens), newest first."""
    out: dict[int, dict[str, dict]] = defaultdict(dict)
    rows = (
        CollectorDevice.objects.filter(token__collector_id__in=ids)
        .order_by("-last_seen_at")
        .values_list(
            "token__collector_id",
            "device_id",
            "token__prefix",
            "first_seen_at",
            "last_seen_at",
            "user_agent",
            "version",
        )
    )
    for collector_id, device_id, prefix, first, last, user_agent, version in rows:
        seen = out[collector_id].get(device_id)
        if seen is None:
            out[collector_id][device_id] = {
                "device_id": device_id,
                "token_prefixes": [prefix],
                "first_seen": first,
                "last_seen": last,
                "user_agent": user_agent,
                "version": version,
            }
        else:  # an older row of the same device under another token
            seen["token_prefixes"].append(prefix)
            seen["first_seen"] = min(seen["first_seen"], first)
    return {pk: list(devices.values()) for pk, devices in out.items()}


def _versions(devices: list[dict]) -> list[dict]:
    """The (User-Agent, registered version) pairs its devices last reported, with how many devices each."""
    pairs: dict[tuple[str, str], dict] = {}
    for d in devices:
        key = (d["user_agent"], d["version"])
        pair = pairs.setdefault(key, {"user_agent": key[0], "version": key[1], "devices": 0, "last_seen": None})
        pair["devices"] += 1
        if pair["last_seen"] is None or d["last_seen"] > pair["last_seen"]:
            pair["last_seen"] = d["last_seen"]
    return sorted(pairs.values(), key=lambda p: p["last_seen"], reverse=True)


def collector_health_list(collector_ids, *, now: dt.datetime | None = None) -> dict[int, dict]:
    """Per collector id: last_upload, last_poll, online, devices, versions, uploads_last_hour
    (with `channels`, receipts per endpoint/body format), rejected_reasons_last_hour (counts by
    error_code) and quarantined (encrypted uploads held, not yet opened). Five statements, and one
    Redis MGET for last_poll (each poll's exact time; Collector.last_poll_at where Redis has none)."""
    ids = list(collector_ids)
    if not ids:
        return {}
    now = now or timezone.now()
    since = now - WINDOW
    newest = IngestBatch.objects.filter(collector=OuterRef("pk")).order_by("-received_at").values("received_at")[:1]
    held = (
        QuarantinedBatch.objects.filter(collector=OuterRef("pk"))
        .filter(~Q(status=QuarantineStatus.DONE))
        .order_by()
        .values("collector")
        .annotate(n=Count("pk"))
        .values("n")
    )
    collectors = Collector.objects.filter(pk__in=ids).annotate(last_upload=Subquery(newest), held=Subquery(held))
    uploads, codes, devices = _uploads(ids, since), _rejected_codes(ids, since), _devices(ids)
    stale = stale_cutoff(now)
    out = {}
    rows = list(collectors.values("pk", "last_upload", "last_poll_at", "held"))
    polls = last_poll_many({c["pk"]: c["last_poll_at"] for c in rows})
    for c in rows:
        seen = devices.get(c["pk"], [])
        out[c["pk"]] = {
            "last_upload": c["last_upload"],
            "last_poll": polls[c["pk"]],
            "online": c["last_upload"] is not None and c["last_upload"] >= stale,
            "devices": seen,
            "versions": _versions(seen),
            "uploads_last_hour": uploads.get(c["pk"], _no_uploads()),
            "rejected_reasons_last_hour": codes.get(c["pk"], {}),
            "quarantined": c["held"] or 0,
        }
    return out
