"""The original application's /api/v1/telemetry… shapes (its telemetry_service's dicts), built
from this project's live rows, site summary and history points (docs/COMPATIBILITY.md).

Units: the original answered TH/s; this project stores GH/s (÷ 1000 here). Figures this project
does not measure (power, efficiency, boards, health) are null, never invented."""

import datetime as dt

from django.utils import timezone

from telemetry.selectors_history import MAX_RANGE_MINER, MAX_RANGE_SITE

UNITS = {
    "hashrate": "TH/s (5-second sample: hashrate_5s)",
    "temperature": "Celsius",
    "power": "Watts (not measured here: null)",
    "efficiency": "Joules per TH (not measured here: null)",
    "reject_rate": "Ratio (0-1)",
}
# The original's resolution → the finest tier of this project to try first.
RESOLUTION_TIER = {"5min": "1m", "hourly": "15m", "daily": "daily"}
TIER_ORDER = ("1m", "15m", "daily")


def _ths(ghs) -> float | None:
    return None if ghs is None else round(ghs / 1000, 2)


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def meta(source: str = "telemetry_live", **extra) -> dict:
    return {"source": source, "updated_at": timezone.now().isoformat(), **extra}


def live_miner(row: dict) -> dict:
    """One miner as the original's get_live answered it; `row` is a live row plus `site_id`."""
    return {
        "miner_id": row["miner_id"],
        "site_id": row["site_id"],
        "online": row["state"] == "online",
        "state": row["state"],
        "last_seen": _iso(row["ts"]),
        "hashrate": {
            "value": _ths(row["hashrate_5s_ghs"]),
            "unit": "TH/s",
            "source": "5s",
            "instant_ths": _ths(row["hashrate_5s_ghs"]),
            "expected_ths": None,
            "average_ths": _ths(row["hashrate_ghs"]),
        },
        "temperature": {"avg": row["temperature_avg"], "max": row["temperature_max"], "min": None, "unit": "C"},
        "power": {"value": None, "unit": "W"},
        "efficiency": {"value": None, "unit": "J/TH"},
        "shares": {"accepted": None, "rejected": None, "reject_rate": None},
        "uptime_seconds": row["uptime_seconds"],
        "pool": {"url": row["pool_url"] or None, "worker": row["worker_name"] or None, "latency_ms": None},
        "hardware": {
            "model": row["model"],
            "firmware": None,
            "boards_healthy": None,
            "boards_total": None,
            "errors": row["hardware_errors"],
        },
        "health": None,
        "error_message": row["error_message"] or None,
        "updated_at": _iso(row["ts"]),
    }


def site_summary(site_code: str, s: dict) -> dict:
    """The original's get_site_summary from telemetry.selectors.site_summary."""
    total, online = s["miners"], s["online"]
    return {
        "site_id": site_code,
        "miners": {
            "total": total,
            "online": online,
            "offline": total - online,
            "unknown": s["unknown"],
            "online_rate": round(online / (total or 1), 3),
        },
        "hashrate": {"total_ths": _ths(s["hashrate_5s_ghs"]) or 0.0, "unit": "TH/s"},
        "temperature": {"avg": None, "max": s["temperature_max"], "unit": "C"},
        "power": {"total_w": None, "total_kw": None, "unit": "W"},
        "efficiency": {"avg": None, "unit": "J/TH"},
        "shares": {"accepted": None, "rejected": None, "reject_rate": None},
        "_meta": meta(last_sample_at=_iso(s["last_sample_at"])),
    }


def history_tier(resolution: str, start: dt.datetime, end: dt.datetime, *, per_site: bool) -> str:
    """The tier for the original's resolution ('auto' as the original chose it), coarsened until
    the range fits this project's bound for the tier."""
    if resolution == "auto":
        days = (end - start).days
        resolution = "daily" if days > 30 else "hourly" if days > 2 else "5min"
    limits = MAX_RANGE_SITE if per_site else MAX_RANGE_MINER
    tiers = TIER_ORDER[TIER_ORDER.index(RESOLUTION_TIER[resolution]) :]
    return next((t for t in tiers if end - start <= limits[t]), tiers[-1])


def history_point(p: dict) -> dict:
    samples = p.get("samples") or 0
    hashrate = p.get("hashrate_5s_avg", p.get("hashrate_5s_ghs"))
    bucket = p["bucket"]
    return {
        "ts": bucket.isoformat() if hasattr(bucket, "isoformat") else str(bucket),
        "hashrate_ths": _ths(hashrate),
        "max_hashrate_ths": _ths(p.get("hashrate_5s_max")),
        "min_hashrate_ths": None,
        "temp_c": p.get("temperature_max_avg", p.get("temperature_max")),
        "max_temp_c": p.get("temperature_max"),
        "power_w": None,
        "online_ratio": round((p.get("online_samples") or 0) / samples, 3) if samples else None,
        "samples": samples,
    }


def history(body: dict, resolution: str) -> dict:
    """The original's {series, _meta} from telemetry.api_read.history_body's answer. A site's
    history is one series (the site's sum over your miners: miner_id null), not one per miner."""
    data = [history_point(p) for p in body["points"]]
    return {
        "series": [{"miner_id": body["miner_id"], "data": data}] if data else [],
        "_meta": {
            "source": f"telemetry_{body['tier']}",
            "resolution": resolution,
            "tier": body["tier"],
            "start": body["from"].isoformat(),
            "end": body["to"].isoformat(),
            "site_id": body["site_id"],
        },
    }
