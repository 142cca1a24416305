"""The read side of telemetry: miner state, live rows, site figures, tier history.

Everything here starts from tenants.scoping, so an API view, an admin page or a portal page gets
the same rows for the same person. State is derived, never stored (SPEC §5):

- online   — the last sample says online and is younger than TELEMETRY_STALE_SEC;
- offline  — the last sample says offline, or it is older than stale (or there is none) while a
             collector covering the miner still uploads;
- unknown  — no collector covering the miner (a site-wide one, or its zone's) has uploaded within
             stale: the collector is dark, so the time is unmeasured, not downtime.

"Uploaded" means an IngestBatch receipt with received_at within stale — a poll or a status check
proves the collector is alive, not that it still measures.
"""

import datetime as dt
import operator
from dataclasses import dataclass
from functools import reduce
from typing import Any

from django.conf import settings
from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    FilteredRelation,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from core.errors import Forbidden, InvalidParameter
from telemetry.models import (
    IngestBatch,
    QuarantinedBatch,
    TelemetryLive,
)
from tenants import scoping
from tenants.models import Miner, Site, Tenant, Zone
from tenants.scoping import FORBIDDEN_MESSAGE, Capability
from tenants.site_identity import site_named_q

ONLINE, OFFLINE, UNKNOWN = "online", "offline", "unknown"
STATES = (ONLINE, OFFLINE, UNKNOWN)


def stale_cutoff(now: dt.datetime | None = None) -> dt.datetime:
    return (now or timezone.now()) - dt.timedelta(seconds=settings.TELEMETRY_STALE_SEC)


def miner_get(user, miner_id: str, *, site_code: str = "") -> Miner:
    """A miner by its edge id, `<site_code>/<miner_id>`, or a bare miner_id plus site_code.

    A bare id matching miners at several of the user's sites is ambiguous (400); only miners the
    user may see are counted, so the answer tells nothing about anyone else's."""
    if "/" in miner_id and not site_code:
        site_code, miner_id = miner_id.split("/", 1)
    if not miner_id:
        raise InvalidParameter("miner_id is empty", field="miner_id")
    qs = scoping.miners_for(user).filter(miner_id=miner_id).select_related("site", "zone", "tenant")
    if site_code:
        qs = qs.filter(site_named_q(site_code, "site"))
    found = list(qs[:2])
    if not found:
        raise Forbidden(FORBIDDEN_MESSAGE)
    if len(found) > 1:
        raise InvalidParameter(
            "miner_id is at several sites: name the site (<site_id>/<miner_id> or site_id=)", field="miner_id"
        )
    return found[0]


# --- state ------------------------------------------------------------------------------------------


def coverage_get(site_ids, *, now: dt.datetime | None = None) -> dict[int, set]:
    """site id -> zone ids whose collectors uploaded within stale (None: a site-wide collector did)."""
    rows = (
        IngestBatch.objects.filter(site_id__in=site_ids, received_at__gte=stale_cutoff(now))
        .order_by()
        .values_list("site_id", "collector__zone_id")
        .distinct()
    )
    coverage: dict[int, set] = {}
    for site_id, zone_id in rows:
        coverage.setdefault(site_id, set()).add(zone_id)
    return coverage


def _covered_q(coverage: dict[int, set], prefix: str) -> Q | None:
    """Miners some live collector answers for: all of a site with a site-wide collector; else
    those of the zones with a live collector, and zoneless miners (any collector of the site)."""
    parts = []
    for site_id, zones in coverage.items():
        if None in zones:
            parts.append(Q(**{f"{prefix}site_id": site_id}))
        else:
            parts.append(
                Q(**{f"{prefix}site_id": site_id})
                & (Q(**{f"{prefix}zone_id__in": zones}) | Q(**{f"{prefix}zone__isnull": True}))
            )
    return reduce(operator.or_, parts) if parts else None


def state_expression(
    coverage: dict[int, set], *, now: dt.datetime | None = None, live: str = "lv__", miner: str = ""
) -> Case:
    """SQL CASE deriving the state. `live` and `miner` are lookup prefixes of the live row and the
    miner ("lv__" and "" from a miner queryset; "" and "miner__" from a TelemetryLive queryset)."""
    fresh = Q(**{f"{live}ts__gte": stale_cutoff(now)})
    whens = [When(fresh & Q(**{f"{live}online": True}), then=Value(ONLINE)), When(fresh, then=Value(OFFLINE))]
    covered = _covered_q(coverage, miner)
    if covered is not None:
        whens.append(When(covered, then=Value(OFFLINE)))
    return Case(*whens, default=Value(UNKNOWN), output_field=CharField())


def _live_relation(user) -> FilteredRelation:
    """The miner's live row. A customer sees it only while it is attributed to one of their
    tenants: right after an ownership change the last sample still belongs to the previous owner."""
    scope = scoping.scope_for(user)
    if scope.is_operator or not scope.has_customer_side:
        return FilteredRelation("live")
    # Group-limited tenants too: the miners themselves are already limited by scoping.miners_for.
    return FilteredRelation("live", condition=Q(live__tenant_id__in=scope.customer_tenants_all))


def miners_with_state(
    user, miners: QuerySet[Miner] | None = None, *, site_ids=None, now: dt.datetime | None = None
) -> QuerySet[Miner]:
    """Miners the user may see, each with `state` and its live row joined as `lv` (LEFT JOIN)."""
    miners = scoping.miners_for(user) if miners is None else miners
    if site_ids is None:
        site_ids = scoping.sites_for(user).values("pk")
    coverage = coverage_get(site_ids, now=now)
    return miners.annotate(lv=_live_relation(user), state=state_expression(coverage, now=now))


# --- live -------------------------------------------------------------------------------------------

# Output name -> lookup path from the miner (the live row is joined as `lv`).
LIVE_FIELDS = {
    "miner_id": "miner_id",
    "zone": "zone__code",
    "tenant": "tenant__slug",
    "model": "model",
    "state": "state",
    "ts": "lv__ts",
    "online": "lv__online",
    "hashrate_5s_ghs": "lv__hashrate_5s_ghs",
    "hashrate_ghs": "lv__hashrate_ghs",
    "temperature_max": "lv__temperature_max",
    "temperature_avg": "lv__temperature_avg",
    "frequency_avg": "lv__frequency_avg",
    "fan_speeds": "lv__fan_speeds",
    "uptime_seconds": "lv__uptime_seconds",
    "hardware_errors": "lv__hardware_errors",
    "pool_url": "lv__pool_url",
    "worker_name": "lv__worker_name",
    "error_message": "lv__error_message",
}
COMPACT_FIELDS = ("miner_id", "zone", "tenant", "state", "ts", "hashrate_5s_ghs", "temperature_max")


@dataclass(frozen=True)
class LiveFilters:
    zone: Zone | None = None
    tenant: Tenant | None = None
    state: str = ""
    min_temp: float | None = None


def live_for(user, site: Site, filters: LiveFilters | None = None, *, now=None, miners=None) -> QuerySet:
    """The live state of the site's miners the user may see, ordered by miner_id: a queryset of
    miners with `state` and the live row as `lv` (paths in LIVE_FIELDS).

    Miners that never reported are included (no figures; offline or unknown by coverage)."""
    f = filters or LiveFilters()
    qs = scoping.miners_for(user).filter(site=site)
    if miners is not None:
        qs = qs.filter(pk__in=miners.values("pk"))
    if f.zone is not None:
        qs = qs.filter(zone=f.zone)
    if f.tenant is not None:
        qs = qs.filter(tenant=f.tenant)
    qs = miners_with_state(user, qs, site_ids=[site.pk], now=now)
    if f.state:
        qs = qs.filter(state=f.state)  # type: ignore[misc]  # annotated by miners_with_state
    if f.min_temp is not None:
        qs = qs.filter(lv__temperature_max__gte=f.min_temp)  # type: ignore[misc]  # annotated by miners_with_state
    return qs.order_by("miner_id")


def live_values(qs: QuerySet, names=tuple(LIVE_FIELDS)) -> QuerySet:
    """live_for's rows as dicts keyed by LIVE_FIELDS lookup paths (no model instances)."""
    return qs.values(*(LIVE_FIELDS[n] for n in names))


def live_rows(qs: QuerySet, names=tuple(LIVE_FIELDS)) -> list[dict]:
    """live_for's rows as dicts keyed by output name."""
    return [dict(zip(names, row, strict=True)) for row in qs.values_list(*(LIVE_FIELDS[n] for n in names))]


def live_in_scope(user, *, site: Site | None = None, miner_id: str = "", online_only: bool = False, now=None):
    """live_for over the user's whole scope (or one site), optionally one miner_id (at any of the
    user's sites) and online miners only; ordered by site code and miner_id."""
    miners = scoping.miners_for(user)
    site_ids = None
    if site is not None:
        miners, site_ids = miners.filter(site=site), [site.pk]
    if miner_id:
        miners = miners.filter(miner_id=miner_id)
    qs = miners_with_state(user, miners, site_ids=site_ids, now=now)
    if online_only:
        qs = qs.filter(state=ONLINE)  # type: ignore[misc]  # annotated by miners_with_state
    return qs.order_by("site__code", "miner_id")


def live_rows_with_site(qs: QuerySet) -> list[dict]:
    """live_rows plus each miner's `site_id` (Site.code)."""
    names = (*LIVE_FIELDS, "site_id")
    paths = (*LIVE_FIELDS.values(), "site__code")
    return [dict(zip(names, row, strict=True)) for row in qs.values_list(*paths)]


def live_columns(user, site: Site, filters: LiveFilters | None = None, *, now=None) -> dict[str, list]:
    """The whole site as column arrays (dashboards): one query, no model instances."""
    names = COMPACT_FIELDS
    rows = live_for(user, site, filters, now=now).values_list(*(LIVE_FIELDS[n] for n in names))
    columns = list(zip(*rows, strict=True)) or [()] * len(names)
    return {name: list(col) for name, col in zip(names, columns, strict=True)}


def miner_state(user, miner: Miner, *, now=None) -> dict:
    """One miner's state and last sample (the miner must be in the user's scope already)."""
    rows = live_rows(live_for(user, miner.site, now=now, miners=Miner.objects.filter(pk=miner.pk)))
    return rows[0] if rows else {}


def site_summary(user, site: Site, *, now=None) -> dict:
    """Counts per state, current hashrate (sum of hashrate_5s_ghs of online miners) and the hottest
    fresh temperature_max — from the miners the user may see only."""
    qs = miners_with_state(user, scoping.miners_for(user).filter(site=site), site_ids=[site.pk], now=now)
    fresh = Q(lv__ts__gte=stale_cutoff(now))
    groups = (
        qs.order_by()
        .values("state")  # type: ignore[misc]  # annotated by miners_with_state
        .annotate(
            n=Count("pk"),
            hashrate=Sum("lv__hashrate_5s_ghs", filter=Q(state=ONLINE)),
            temp=Max("lv__temperature_max", filter=fresh),
            temp_sum=Sum("lv__temperature_avg", filter=fresh),
            temp_n=Count("lv__temperature_avg", filter=fresh),
            last=Max("lv__ts"),
        )
    )
    out: dict[str, Any] = {
        "miners": 0,
        ONLINE: 0,
        OFFLINE: 0,
        UNKNOWN: 0,
        "hashrate_5s_ghs": 0.0,
        "temperature_max": None,
        "last_sample_at": None,
    }
    temp_sum, temp_n = 0.0, 0
    for g in groups:
        out[g["state"]] = g["n"]
        out["miners"] += g["n"]
        out["hashrate_5s_ghs"] += g["hashrate"] or 0.0
        if g["temp"] is not None and (out["temperature_max"] is None or g["temp"] > out["temperature_max"]):
            out["temperature_max"] = g["temp"]
        if g["last"] is not None and (out["last_sample_at"] is None or g["last"] > out["last_sample_at"]):
            out["last_sample_at"] = g["last"]
        temp_sum, temp_n = temp_sum + (g["temp_sum"] or 0.0), temp_n + g["temp_n"]
    out["temperature_avg"] = temp_sum / temp_n if temp_n else None
    return out


def fleet_summary(user, *, now=None, with_pk: bool = False) -> list[dict]:
    """site_summary for every site the user sees, in one grouped query; `with_pk` adds each
    site's `pk` and `temperature_avg` (the original application's per-site figures)."""
    sites = dict(scoping.sites_for(user).values_list("pk", "code"))
    qs = miners_with_state(user, site_ids=list(sites), now=now)
    fresh = Q(lv__ts__gte=stale_cutoff(now))
    groups = (
        qs.order_by()
        .values("site_id", "state")  # type: ignore[misc]  # annotated by miners_with_state
        .annotate(
            n=Count("pk"),
            hashrate=Sum("lv__hashrate_5s_ghs", filter=Q(state=ONLINE)),
            temp=Max("lv__temperature_max", filter=fresh),
            temp_sum=Sum("lv__temperature_avg", filter=fresh),
            temp_n=Count("lv__temperature_avg", filter=fresh),
        )
    )
    per_site: dict[int, dict[str, Any]] = {
        pk: {
            "site_id": code,
            "miners": 0,
            ONLINE: 0,
            OFFLINE: 0,
            UNKNOWN: 0,
            "hashrate_5s_ghs": 0.0,
            "temperature_max": None,
        }
        for pk, code in sites.items()
    }
    temps: dict[int, list] = {pk: [0.0, 0] for pk in sites}
    for g in groups:
        s = per_site[g["site_id"]]
        s[g["state"]] = g["n"]
        s["miners"] += g["n"]
        s["hashrate_5s_ghs"] += g["hashrate"] or 0.0
        if g["temp"] is not None and (s["temperature_max"] is None or g["temp"] > s["temperature_max"]):
            s["temperature_max"] = g["temp"]
        temps[g["site_id"]][0] += g["temp_sum"] or 0.0
        temps[g["site_id"]][1] += g["temp_n"]
    if with_pk:
        for pk, s in per_site.items():
            total, n = temps[pk]
            s["pk"], s["temperature_avg"] = pk, (total / n if n else None)
    return sorted(per_site.values(), key=lambda s: s["site_id"])


def site_status_list(user, *, now=None, collector_health=None) -> list[dict]:
    """Per site the user sees: miner counts per state (fleet_summary: their miners only) and, for
    operators, the site's active collectors they see — name, zone, last_seen (newest use of any of
    its tokens), devices (X-Device-IDs its tokens were used from), online (uploaded within stale)
    and, when `collector_health` (collector ids → {id: figures}) is given, `health`: its figures.
    Customers get `collectors: None`: collectors are operator-only (SPEC §2)."""
    now = now or timezone.now()
    collectors: dict[str, list] | None = None
    if scoping.scope_for(user).is_operator:
        collectors = {}
        uploaded = IngestBatch.objects.filter(collector=OuterRef("pk"), received_at__gte=stale_cutoff(now))
        rows = (
            scoping.collectors_for(user)
            .filter(is_active=True)
            .annotate(
                last_seen=Max("tokens__last_used_at"),
                # NULL-free: a token never used from a device joins one NULL device row.
                devices=ArrayAgg(
                    "tokens__devices__device_id", distinct=True, filter=Q(tokens__devices__isnull=False), default=[]
                ),
                online=Exists(uploaded),
            )
            .order_by("site__code", "name")
            .values_list("pk", "site__code", "name", "zone__code", "last_seen", "devices", "online")
        )
        listed = list(rows)
        health = collector_health([r[0] for r in listed]) if collector_health else None
        for pk, site_code, name, zone, last_seen, devices, online in listed:
            entry = {"name": name, "zone": zone, "last_seen": last_seen, "devices": devices, "online": online}
            if health is not None:
                entry["health"] = health.get(pk)
            collectors.setdefault(site_code, []).append(entry)
    return [
        {
            "site_id": s["site_id"],
            "collectors": None if collectors is None else collectors.get(s["site_id"], []),
            "miners": {state: s[state] for state in STATES},
        }
        for s in fleet_summary(user, now=now)
    ]


def ingest_stats(user, *, since: dt.datetime) -> dict | None:
    """Upload receipts since `since` at the collectors the user sees — operators only (None for customers)."""
    if not scoping.scope_for(user).is_operator:
        return None
    agg = (
        ingest_batches_for(user)
        .filter(received_at__gte=since)
        .aggregate(
            uploads=Count("pk"),
            records=Sum("record_count"),
            accepted=Sum("accepted"),
            rejected=Sum("rejected"),
            duplicates=Sum("duplicates"),
            last=Max("received_at"),
        )
    )
    return {k: (v or 0) if k != "last" else v for k, v in agg.items()}


def ingest_batches_for(user, capability: str = Capability.VIEW) -> QuerySet[IngestBatch]:
    """Upload receipts of the collectors the user sees (operators only: customers see no collectors)."""
    return IngestBatch.objects.filter(collector__in=scoping.collectors_for(user, capability))


def quarantined_batches_for(user, capability: str = Capability.VIEW) -> QuerySet[QuarantinedBatch]:
    """Held encrypted uploads of the collectors the user sees (operators only, like receipts)."""
    return QuarantinedBatch.objects.filter(collector__in=scoping.collectors_for(user, capability))


def live_rows_for(user, capability: str = Capability.VIEW, *, now=None) -> QuerySet[TelemetryLive]:
    """Live rows of the miners the user may see, with `state` (the admin's changelist)."""
    coverage = coverage_get(scoping.sites_for(user, capability).values("pk"), now=now)
    rows = TelemetryLive.objects.filter(miner__in=scoping.miners_for(user, capability).values("pk"))
    return rows.annotate(state=state_expression(coverage, now=now, live="", miner="miner__"))


def collector_site_figures(site: Site) -> dict:
    """What the original's collector status counted for the token's site: its live rows (miners
    that ever reported), how many of them last said online, and the newest upload receipt."""
    agg = TelemetryLive.objects.filter(site=site).aggregate(
        total=Count("pk"), online=Count("pk", filter=Q(online=True))
    )
    last = IngestBatch.objects.filter(site=site).aggregate(last=Max("received_at"))["last"]
    return {"total": agg["total"], "online": agg["online"], "last_upload": last}


def site_uploads(user, *, now=None) -> tuple[dict[int, dt.datetime], int] | None:
    """Operators: the newest upload receipt per site they see, and how many of their active
    collectors uploaded within stale. None for customers (collectors are operator-only, SPEC §2)."""
    if not scoping.scope_for(user).is_operator:
        return None
    last = dict(
        ingest_batches_for(user)
        .order_by()
        .values_list("site_id")
        .annotate(last=Max("received_at"))
        .values_list("site_id", "last")
    )
    uploaded = IngestBatch.objects.filter(collector=OuterRef("pk"), received_at__gte=stale_cutoff(now))
    active = scoping.collectors_for(user).filter(is_active=True).filter(Exists(uploaded)).count()
    return last, active
