"""The original operator pages' fleet rows (/hosting/api/miners, /sites, /overview; docs/COMPATIBILITY.md
"/hosting/api (operator)"): a miner and a site in the original's keys (`HostingMiner.to_dict()`,
`HostingSite.to_dict()`), filled from this product's selectors, beside this product's own keys.

- A miner's `id` is its database id; `serial_number` the edge's miner_id; `site_id` the integer the
  original knew the site by (its `legacy_id` alias, else its pk: telemetry.legacy_shapes), and
  `site_code` the site's code.
- `status` speaks the original's words (`active` = online here, `offline`, `unknown`); `state` is
  this product's derived state (SPEC §5). `approval_status` is always `approved`: a miner that
  reports is in the fleet.
- What this product does not keep is null, never invented: rack position, IP and MAC (they stay on
  the edge), health score, capacity, electricity rate, location. Power is the nominal power (W).
- Timestamps are the original's naive-UTC ISO strings."""

from django.db.models import Count, Q

from hosting.models import AlertState
from hosting.selectors.alerts import alerts_for
from portal.legacy_client import ORIGINAL_STATUS, ths
from telemetry import selectors as telemetry
from telemetry.legacy_shapes import legacy_site_ids, utc_iso

# selectors.miner_list's columns plus the live figures the original's row carried
EXTRA_COLUMNS = (
    "tenant_id",
    "tenant__name",
    "site_id",
    "lv__temperature_avg",
    "lv__fan_speeds",
    "lv__hardware_errors",
    "lv__pool_url",
    "lv__worker_name",
    "lv__hashrate_ghs",
    "lv__accepted_shares",
    "lv__rejected_shares",
)
# the original's sort_by -> portal.selectors.MINER_SORTS
SORTS = {
    "serial_number": "miner",
    "miner_model": "model",
    "site_name": "site",
    "actual_hashrate": "hashrate",
    "daily_profit": "hashrate",  # the original sorted its profit proxy by hashrate too
    "temperature_avg": "temp",
    "status": "state",
    "last_seen": "seen",
}
# the original's status filter -> this product's state (maintenance / error have no miners here)
STATUS_FILTER = {"active": telemetry.ONLINE, "online": telemetry.ONLINE, "offline": telemetry.OFFLINE}
STATUS_FILTER[telemetry.UNKNOWN] = telemetry.UNKNOWN
NO_MINERS_STATUS = ("maintenance", "error", "curtailed")


def _round(value, digits: int):
    return None if value is None else round(float(value), digits)


def miner_telemetry(r: dict) -> dict:
    """The original's `telemetry` block: {live: false} for a miner that never reported."""
    if r["lv__ts"] is None:
        return {"live": False}
    uptime = r["lv__uptime_seconds"]
    return {
        "live": True,
        "online": r["state"] == telemetry.ONLINE,
        "last_seen": utc_iso(r["lv__ts"]),
        "hashrate_ths": round((r["lv__hashrate_ghs"] or 0) / 1000, 2),
        "hashrate_5s_ths": _round(r["hashrate_ths"] or 0, 2),
        "temperature_avg": _round(r["lv__temperature_avg"], 1),
        "temperature_max": _round(r["lv__temperature_max"], 1),
        "fan_speeds": r["lv__fan_speeds"] or [],
        "power_consumption": r["nominal_power_w"],
        "accepted_shares": r["lv__accepted_shares"] or 0,
        "rejected_shares": r["lv__rejected_shares"] or 0,
        "uptime_hours": None if uptime is None else round(uptime / 3600, 1),
        "pool_url": r["lv__pool_url"],
        "worker_name": r["lv__worker_name"],
    }


def miner_row(r: dict, *, site_id: int, alerts: list[dict]) -> dict:
    """One row of portal.selectors.miner_list (MINER_COLUMNS + EXTRA_COLUMNS) in the original's keys."""
    fans = r["lv__fan_speeds"] or []
    accepted, rejected = r["lv__accepted_shares"] or 0, r["lv__rejected_shares"] or 0
    return {
        "id": r["pk"],
        "site_id": site_id,
        "site_code": r["site__code"],
        "site_name": r["site__name"],
        "zone_id": r["zone__code"],
        "customer_id": r["tenant_id"],
        "customer_name": r["tenant__name"],
        "customer_email": None,
        "serial_number": r["miner_id"],
        "miner_id": r["miner_id"],
        "rack_position": None,
        "ip_address": None,
        "mac_address": None,
        "miner_model_name": r["model"] or None,
        "actual_hashrate": ths(r["hashrate_ths"]),
        "nominal_hashrate": ths(r["nominal_hashrate_ths"]),
        "actual_power": r["nominal_power_w"],
        "status": ORIGINAL_STATUS.get(r["state"], r["state"]),
        "state": r["state"],
        "health_score": None,
        "approval_status": "approved",
        "temperature_avg": r["lv__temperature_avg"],
        "temperature_max": r["lv__temperature_max"],
        "fan_speeds": fans,
        "fan_avg": round(sum(fans) / len(fans)) if fans else None,
        "reject_rate": round(rejected / (accepted + rejected) * 100, 2) if accepted + rejected else None,
        "hardware_errors": r["lv__hardware_errors"],
        "last_seen": utc_iso(r["lv__ts"]),
        "cgminer_online": r["state"] == telemetry.ONLINE,
        "pool_url": r["lv__pool_url"],
        "pool_worker": r["lv__worker_name"],
        "uptime_seconds": r["lv__uptime_seconds"],
        "hashrate_5s": ths(r["hashrate_ths"]),
        "accepted_shares": accepted,
        "rejected_shares": rejected,
        "created_at": utc_iso(r["created_at"]),
        "telemetry": miner_telemetry(r),
        "alerts": alerts,
    }


def open_alerts_by_miner(user, miner_pks: list[int]) -> dict[int, list[dict]]:
    """The open (firing or acknowledged) alerts of these miners the user sees, newest first: one query."""
    rows = (
        alerts_for(user)
        .filter(miner_id__in=miner_pks)
        .exclude(state=AlertState.RESOLVED)
        .order_by("-fired_at", "-id")
        .values_list("miner_id", "pk", "kind", "severity", "title", "state", "fired_at")
    )
    out: dict[int, list[dict]] = {}
    for miner_pk, pk, kind, severity, title, state, fired_at in rows:
        out.setdefault(miner_pk, []).append(
            {"id": pk, "type": kind, "severity": severity, "title": title, "state": state, "since": utc_iso(fired_at)}
        )
    return out


def miner_rows(user, rows: list[dict]) -> list[dict]:
    ids = legacy_site_ids({r["site_id"] for r in rows})
    alerts = open_alerts_by_miner(user, [r["pk"] for r in rows])
    return [miner_row(r, site_id=ids[r["site_id"]], alerts=alerts.get(r["pk"], [])) for r in rows]


def site_status(last_upload) -> str:
    """The original's site status word: online while one of its collectors uploaded within stale."""
    return "online" if last_upload is not None and last_upload >= telemetry.stale_cutoff() else "offline"


def site_dict(site, *, legacy_id: int, last_upload, figures: dict) -> dict:
    """`HostingSite.to_dict()` plus the list's counts; `figures` is a portal.selectors.dashboard_figures site."""
    return {
        "id": legacy_id,
        "pk": site.pk,
        "code": site.code,
        "name": site.name,
        "slug": site.code,
        "location": None,
        "timezone": site.timezone,
        "capacity_mw": None,
        "used_capacity_mw": None,
        "available_capacity_mw": None,
        "utilization_rate": None,
        "status": site_status(last_upload),
        "operator_name": None,
        "electricity_rate": None,
        "ip_mode": None,
        "created_at": utc_iso(site.created_at),
        "last_upload": utc_iso(last_upload),
        "device_count": figures.get("miners", 0),
        "devices_count": figures.get("miners", 0),
        "active_devices": figures.get(telemetry.ONLINE, 0),
        "hashrate_ths": figures.get("hashrate_ths", 0.0),
    }


def miners_stats(figures: dict) -> list[dict]:
    """The site page's `miners_stats`: one row per state with miners (hashrate and power count online only)."""
    out = []
    for state in telemetry.STATES:
        n = figures.get(state, 0)
        if not n:
            continue
        online = state == telemetry.ONLINE
        out.append(
            {
                "status": ORIGINAL_STATUS.get(state, state),
                "count": n,
                "total_hashrate": figures["hashrate_ths"] if online else 0.0,
                "total_power": figures["online_nominal_power_w"] if online else 0,
            }
        )
    return out


def alert_counts(user, *, since) -> dict:
    """Alerts raised since `since` and alerts open now, in the user's scope: one query."""
    return alerts_for(user).aggregate(
        recent=Count("pk", filter=Q(fired_at__gte=since)),
        open=Count("pk", filter=~Q(state=AlertState.RESOLVED)),
    )


PER_PAGE_DEFAULT = 20
PER_PAGE_MAX = 500
HISTORY_FALLBACK_POINTS = 50
