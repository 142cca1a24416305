"""The original application's answer shapes for the telemetry routes it served under
/api/collector/* (docs/COMPATIBILITY.md, "/api/collector and /api/edge").

One module for every original shape of this area, so the views stay parse → selector → shape:
integer site ids (the site's `legacy_id` alias, else its pk), TH/s where the original said
`_ths`, hours where it said `uptime_hours`, naive-UTC ISO timestamps (`datetime.utcnow().isoformat()`
in the original: no `Z`), and its `{success, data: {...}}` wrapper.
"""

import datetime as dt
import math

from django.db.models import QuerySet

from core.errors import Forbidden
from tenants import scoping
from tenants.models import Site, SiteAlias
from tenants.scoping import FORBIDDEN_MESSAGE
from tenants.site_identity import site_by_code_or_alias

# Live-row lookups the original answered that this project's v1 rows leave out.
ORIGINAL_LIVE_PATHS = {
    "miner_id": "miner_id",
    "model": "model",
    "ts": "lv__ts",
    "received_at": "lv__received_at",
    "online": "lv__online",
    "hashrate_ghs": "lv__hashrate_ghs",
    "hashrate_5s_ghs": "lv__hashrate_5s_ghs",
    "temperature_avg": "lv__temperature_avg",
    "temperature_max": "lv__temperature_max",
    "fan_speeds": "lv__fan_speeds",
    "accepted_shares": "lv__accepted_shares",
    "rejected_shares": "lv__rejected_shares",
    "hardware_errors": "lv__hardware_errors",
    "uptime_seconds": "lv__uptime_seconds",
    "pool_url": "lv__pool_url",
    "worker_name": "lv__worker_name",
    "state": "state",
}


# --- ids and times --------------------------------------------------------------------------------


def legacy_site_ids(site_pks) -> dict[int, int]:
    """pk → the integer id the original knew the site by: its numeric `legacy_id` alias, else the pk."""
    pks = list(site_pks)
    out = {pk: pk for pk in pks}
    aliases = SiteAlias.objects.filter(site_id__in=pks, kind=SiteAlias.Kind.LEGACY_ID).order_by("site_id", "pk")
    for site_id, value in aliases.values_list("site_id", "value"):
        if value.isdigit() and out[site_id] == site_id:
            out[site_id] = int(value)
    return out


def legacy_site_id(site: Site) -> int:
    return legacy_site_ids([site.pk])[site.pk]


def legacy_site_get(user, value: str) -> Site:
    """The site an original path or query names: its code or an alias (the `legacy_id` alias is how
    the original's integer id arrives), else — digits only — its pk. 403 outside scope, existing or not."""
    scope = scoping.sites_for(user)
    site = site_by_code_or_alias(value, scope)
    if site is None and value.isascii() and value.isdigit() and len(value) < 10:  # "¹" is a digit int() refuses
        site = scope.filter(pk=int(value)).first()
    if site is None:
        raise Forbidden(FORBIDDEN_MESSAGE)
    return site


def utc_iso(ts: dt.datetime | None) -> str | None:
    """The original's timestamp: naive UTC ISO-8601 (no offset, no `Z`)."""
    if ts is None:
        return None
    return ts.astimezone(dt.UTC).replace(tzinfo=None).isoformat()


def utc_minute(ts: dt.datetime | None) -> str | None:
    """The original's `%Y-%m-%d %H:%M` (UTC) of its stats and key lists."""
    return None if ts is None else ts.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def ago(ts: dt.datetime | None, now: dt.datetime) -> str:
    """The original miner page's `last_seen`: a phrase, not a timestamp."""
    if ts is None:
        return "Never"
    sec = (now - ts).total_seconds()
    if sec < 60:
        return "Just now"
    if sec < 3600:
        return f"{int(sec // 60)} minutes ago"
    if sec < 86400:
        return f"{int(sec // 3600)} hours ago"
    return f"{int(sec // 86400)} days ago"


def ths(ghs) -> float:
    return (ghs or 0.0) / 1000


# --- live rows ------------------------------------------------------------------------------------


def original_rows(qs: QuerySet) -> list[dict]:
    """telemetry.selectors.live_for rows with the lookups above, keyed by their name."""
    names = tuple(ORIGINAL_LIVE_PATHS)
    return [dict(zip(names, r, strict=True)) for r in qs.values_list(*ORIGINAL_LIVE_PATHS.values())]


def health(row: dict) -> str:
    return {"online": "healthy", "offline": "offline"}.get(row["state"], "unknown")


def live_row(row: dict) -> dict:
    """One miner of GET /api/collector/live/<site_id>. `ip_address` is always null: the
    collector never uploads miner addresses (COLLECTOR_PROTOCOL §4)."""
    return {
        "miner_id": row["miner_id"],
        "ip_address": None,
        "online": bool(row["online"]),
        "last_seen": utc_iso(row["ts"]),
        "hashrate_ths": ths(row["hashrate_ghs"]),
        "hashrate_5s_ths": ths(row["hashrate_5s_ghs"]),
        "temperature_avg": row["temperature_avg"] or 0,
        "temperature_max": row["temperature_max"] or 0,
        "fan_speeds": row["fan_speeds"] or [],
        "accepted_shares": row["accepted_shares"] or 0,
        "rejected_shares": row["rejected_shares"] or 0,
        "uptime_hours": (row["uptime_seconds"] or 0) / 3600,
        "pool_url": row["pool_url"] or "",
        "worker_name": row["worker_name"] or "",
    }


def latest_row(row: dict) -> dict:
    """One miner of GET /api/collector/monitor/sites/<site_id>/miners/latest."""
    return {
        "miner_id": row["miner_id"],
        "ip_address": None,
        "online": bool(row["online"]),
        "updated_at": utc_iso(row["received_at"]),
        "last_seen": utc_iso(row["ts"]),
        "hashrate_ghs": row["hashrate_ghs"] or 0,
        "hashrate_ths": ths(row["hashrate_ghs"]),
        "temperature_avg": row["temperature_avg"] or 0,
        "temperature_max": row["temperature_max"] or 0,
        "fan_speeds": row["fan_speeds"] or [],
        "accepted_shares": row["accepted_shares"] or 0,
        "rejected_shares": row["rejected_shares"] or 0,
        "hardware_errors": row["hardware_errors"] or 0,
        "uptime_seconds": row["uptime_seconds"] or 0,
        "pool_url": row["pool_url"] or "",
        "worker_name": row["worker_name"] or "",
        "model": row["model"] or "",
        "overall_health": health(row),
    }


def paginated(qs: QuerySet, page: int, per_page: int, shape) -> dict:
    """Flask-SQLAlchemy's paginate(error_out=False) as the original answered it."""
    total = qs.count()
    rows = original_rows(qs[(page - 1) * per_page : page * per_page])
    return {
        "miners": [shape(r) for r in rows],
        "pagination": {"page": page, "per_page": per_page, "total": total, "pages": math.ceil(total / per_page)},
    }


# --- figures --------------------------------------------------------------------------------------


def summary(s: dict) -> dict:
    """GET /api/collector/summary/<site_id>'s `data`, from telemetry.selectors.site_summary."""
    online = s["online"]
    return {
        "total_miners": s["miners"],
        "online_miners": online,
        "offline_miners": s["miners"] - online,
        "total_hashrate_ths": ths(s["hashrate_5s_ghs"]),
        "avg_temperature": round(s["temperature_avg"] or 0, 1),
        "max_temperature": round(s["temperature_max"] or 0, 1),
        "online_rate": round(online / max(s["miners"], 1) * 100, 1),
    }


def stats_site(s: dict, last_upload: dt.datetime | None) -> dict:
    """One value of GET /api/collector/stats's `sites` (keyed by the integer site id)."""
    return {
        "total_miners": s["miners"],
        "online_miners": s["online"],
        "total_hashrate_ths": ths(s["hashrate_5s_ghs"]),
        "avg_temperature": round(s["temperature_avg"] or 0, 1),
        "last_upload": utc_minute(last_upload),
    }


def status_data(*, site: Site, collector_name: str, counts: dict, last_upload: dt.datetime | None) -> dict:
    """GET /api/collector/status's `data` for a collector token."""
    return {
        "site_id": legacy_site_id(site),
        "total_miners": counts["total"],
        "online_miners": counts["online"],
        "last_upload": utc_iso(last_upload),
        "collector_name": collector_name,
    }


# --- one miner ------------------------------------------------------------------------------------


def history_24h(points: list[dict], power_w: int | None) -> list[dict]:
    """1-minute buckets of the last 24 h → the original's hourly rows (UTC hours)."""
    hours: dict[str, list[float]] = {}
    for p in points:
        if p["hashrate_5s_avg"] is not None:
            hours.setdefault(p["bucket"].astimezone(dt.UTC).strftime("%H:00"), []).append(p["hashrate_5s_avg"])
    out = []
    for hour, values in sorted(hours.items()):
        hashrate = ths(sum(values) / len(values))
        out.append(
            {
                "hour": hour,
                "hashrate_ths": round(hashrate, 2),
                "power_w": power_w,
                "efficiency_thkw": round(hashrate * 1000 / power_w, 2) if power_w else None,
            }
        )
    return out


def miner_status(*, miner, row: dict, site_name: str, points: list[dict], now: dt.datetime) -> dict:
    """GET /api/collector/miners/<int:id>/status. What this cloud does not measure (expected
    hashrate, pool latency, per-board health, revenue) is null — never an invented figure."""
    power_w = miner.nominal_power_w
    hashrate = ths(row.get("hashrate_ghs"))
    accepted, rejected = row.get("accepted_shares") or 0, row.get("rejected_shares") or 0
    power_kw = power_w / 1000 if power_w else None
    return {
        "success": True,
        "miner": {
            "id": miner.pk,
            "name": miner.miner_id,
            "model": miner.model or "Unknown",
            "ip_address": None,
            "site_name": site_name,
            "online": row.get("state") == "online",
            "last_seen": ago(row.get("ts"), now),
            "overall_health": health(row) if row else "offline",
        },
        "performance": {
            "hashrate_ths": round(hashrate, 2),
            "hashrate_5s_ths": round(ths(row.get("hashrate_5s_ghs")), 2),
            "hashrate_expected_ths": float(miner.nominal_hashrate_ths) if miner.nominal_hashrate_ths else None,
            "hashrate_deviation_pct": (
                round((hashrate - float(miner.nominal_hashrate_ths)) / float(miner.nominal_hashrate_ths) * 100, 2)
                if miner.nominal_hashrate_ths
                else None
            ),
            "power_kw": power_kw,
            "efficiency_jths": round(power_w / hashrate, 2) if power_w and hashrate else None,
            "temp_min_c": None,
            "temp_max_c": round(row.get("temperature_max") or 0, 1),
            "temp_avg_c": round(row.get("temperature_avg") or 0, 1),
            "uptime_hours": round((row.get("uptime_seconds") or 0) / 3600, 1),
            "fan_speeds": row.get("fan_speeds") or [],
            "hardware_errors": row.get("hardware_errors") or 0,
        },
        "pool": {
            "url": row.get("pool_url") or "",
            "worker": row.get("worker_name") or "",
            "latency_ms": None,
            "shares_accepted_24h": accepted,
            "shares_rejected_24h": rejected,
            "rejected_rate_pct": round(rejected / (accepted + rejected) * 100, 2) if accepted + rejected else 0,
        },
        "boards": {"total": None, "healthy": None, "data": []},
        "revenue": None,
        "history_24h": history_24h(points, power_w),
    }


# --- upload answers -------------------------------------------------------------------------------


def upload_answer(batch) -> dict:
    """The original /api/collector/upload's keys for one receipt. `inserted` counts the miners seen
    for the first time (the original inserted a live row for them), `updated` the other stored
    records; online/offline are not counted per upload here (null)."""
    updated = max(batch.accepted - batch.unknown_registered, 0)
    counts = {"inserted": batch.unknown_registered, "updated": updated}
    return {
        **counts,
        "data": {
            "processed": batch.record_count,
            **counts,
            "online": None,
            "offline": None,
            "processing_time_ms": batch.duration_ms,
        },
    }


def batch_answer(batch, *, site: Site, zone_code: str, device_id: str) -> dict:
    """The original /api/edge/v1/telemetry/batch (and /ingest) keys for one receipt."""
    warnings = [
        f"record {r.get('index')}: {r.get('error_code')} {r.get('message', '')}".strip() for r in batch.first_reasons
    ]
    return {
        "processed": batch.accepted,
        "received_at": utc_iso(batch.received_at) + "Z",
        "source": "legacy" if batch.body_format == "list" else "v1",
        "site_id": legacy_site_id(site),
        "zone_id": zone_code or None,
        "device_id": device_id or None,
        "warnings": warnings,
    }


# --- one miner's history --------------------------------------------------------------------------

HISTORY_METRICS = ("hashrate_ghs", "temperature_avg", "temperature_max", "fan_speed_avg", "power_consumption")
# The original's layer → this cloud's tier and the name answered (its 5-minute tier is 15 minutes here).
HISTORY_LAYERS = {"raw": ("raw", "raw_24h"), "history": ("15m", "history_15min"), "daily": ("daily", "daily")}
_RAW_VALUE = {
    "hashrate_ghs": lambda p: p["hashrate_ghs"],
    "temperature_avg": lambda p: p["temperature_avg"],
    "temperature_max": lambda p: p["temperature_max"],
    "fan_speed_avg": lambda p: sum(p["fan_speeds"]) // len(p["fan_speeds"]) if p["fan_speeds"] else None,
}
_BUCKET_VALUE = {"hashrate_ghs": "hashrate_5s_avg", "temperature_max": "temperature_max_avg"}


def history_layer(hours: int, layer: str) -> str:
    """The original's routing: ≤ 24 h raw, ≤ 60 days the rollup, beyond daily; `layer` forces one."""
    if layer in HISTORY_LAYERS:
        return layer
    return "raw" if hours <= 24 else "history" if hours <= 1440 else "daily"


def history_points(points: list[dict], *, tier: str, metric: str) -> list[dict]:
    """Tier rows → the original's [{timestamp, value}]; a metric this cloud does not keep in a
    tier (power; fan and average temperature in rollups) gives no points."""
    out = []
    for p in points:
        if tier == "raw":
            getter = _RAW_VALUE.get(metric)
            value = getter(p) if getter else None
            when = p["ts"]
        else:
            value = p.get(_BUCKET_VALUE.get(metric, ""))
            when = p["bucket"]
        if value is not None:
            stamp = utc_iso(when) if isinstance(when, dt.datetime) else when.isoformat()
            out.append({"timestamp": stamp, "value": value})
    return out
