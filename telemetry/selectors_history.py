"""History reads (SPEC §5): which tier answers a range, and the buckets of a miner or a site,
scoped like every other read."""

import datetime as dt
import operator
from functools import reduce

from django.contrib.postgres.aggregates import BoolOr
from django.db.models import (
    Count,
    F,
    FloatField,
    Max,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Cast, NullIf
from django.utils import timezone

from core.errors import InvalidParameter
from telemetry.models import (
    Telemetry1m,
    Telemetry15m,
    TelemetryDaily,
    TelemetryRaw,
)
from tenants import scoping
from tenants.models import Miner, Site
from tenants.scoping import Capability

# --- history ----------------------------------------------------------------------------------------

TIERS = {"raw": TelemetryRaw, "1m": Telemetry1m, "15m": Telemetry15m, "daily": TelemetryDaily}
TIME_FIELD = {"raw": "ts", "1m": "bucket", "15m": "bucket", "daily": "day"}
# The longest range one request may ask for: bounded work per request, whatever the caller asks.
MAX_RANGE_MINER = {
    "raw": dt.timedelta(days=1),
    "1m": dt.timedelta(days=7),
    "15m": dt.timedelta(days=92),
    "daily": dt.timedelta(days=3660),
}
MAX_RANGE_SITE = {"1m": dt.timedelta(hours=6), "15m": dt.timedelta(days=7), "daily": dt.timedelta(days=366)}
DEFAULT_RANGE = {
    "raw": dt.timedelta(hours=1),
    "1m": dt.timedelta(hours=6),
    "15m": dt.timedelta(days=7),
    "daily": dt.timedelta(days=90),
}


def history_range(
    tier: str, *, per_site: bool, start: dt.datetime | None, end: dt.datetime | None, now=None
) -> tuple[dt.datetime, dt.datetime]:
    """Default and check the range; 400 INVALID_PARAMETER beyond the tier's bound."""
    limits = MAX_RANGE_SITE if per_site else MAX_RANGE_MINER
    if tier not in limits:
        raise InvalidParameter(f"tier {tier!r} is per miner only; a site's history starts at 1m", field="tier")
    end = end or now or timezone.now()
    start = start or end - min(DEFAULT_RANGE[tier], limits[tier])
    if start >= end:
        raise InvalidParameter("from must be before to", field="from")
    if end - start > limits[tier]:
        raise InvalidParameter(
            f"range too long for tier {tier} ({'site' if per_site else 'miner'}): at most {limits[tier]}", field="from"
        )
    return start, end


def tier_rows_for(user, tier: str) -> QuerySet:
    """Tier rows the user may see. Rows carry the owner at sample time, so a customer sees the
    samples of the time they owned a miner, never its previous owner's (SPEC §2)."""
    qs = TIERS[tier].objects.all()
    scope = scoping.scope_for(user)
    if scope.is_platform or Capability.VIEW in scope.all_sites:
        return qs
    parts = []
    if scope.site_ids.get(Capability.VIEW):
        parts.append(Q(site_id__in=scope.site_ids[Capability.VIEW]))
    if scope.zone_ids.get(Capability.VIEW):
        parts.append(Q(miner_id__in=Miner.objects.filter(zone__in=scope.zone_ids[Capability.VIEW]).values("pk")))
    if scope.has_customer_side:  # whole tenants, and the granted groups' miners of group-limited ones
        parts.append(scope.customer_miner_q(tenant_field="tenant_id", miner_field="miner_id"))
    return qs.filter(reduce(operator.or_, parts)) if parts else qs.none()


def _bounds(tier: str, start: dt.datetime, end: dt.datetime) -> Q:
    if tier == "daily":
        # Days touched by [start, end): a range ending at midnight does not include that day.
        start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
        last = end.date() if end.time() == dt.time() else end.date() + dt.timedelta(days=1)
        return Q(day__gte=start.date(), day__lt=last)
    field = TIME_FIELD[tier]
    return Q(**{f"{field}__gte": start, f"{field}__lt": end})


RAW_FIELDS = (
    "ts",
    "online",
    "hashrate_5s_ghs",
    "hashrate_ghs",
    "temperature_max",
    "temperature_avg",
    "frequency_avg",
    "fan_speeds",
    "uptime_seconds",
    "hardware_errors",
)


def _avg(sum_field: str, count_field: str):
    return Cast(F(sum_field), FloatField()) / NullIf(F(count_field), 0)


def history(
    user, *, tier: str, start: dt.datetime, end: dt.datetime, miner: Miner | None = None, site: Site | None = None
) -> list[dict]:
    """A miner's samples (raw) or buckets, or a site's buckets summed over the miners the user may see.

    The caller has already checked the miner or site is in scope (miner_get / site_get) and the
    range (history_range)."""
    qs = tier_rows_for(user, tier).filter(_bounds(tier, start, end))
    field = TIME_FIELD[tier]
    if miner is not None:
        qs = qs.filter(site_id=miner.site_id, miner_id=miner.pk).order_by(field)
        if tier == "raw":
            return list(qs.values(*RAW_FIELDS))
        rows = qs.values_list(
            field,
            "samples",
            "online_samples",
            "corrected",
            "revision",
            _avg("hashrate_5s_sum", "hashrate_5s_count"),
            "hashrate_5s_max",
            "temperature_max_max",
            _avg("temperature_max_sum", "temperature_max_count"),
            _avg("frequency_sum", "frequency_count"),
        )
        names = (
            "bucket",
            "samples",
            "online_samples",
            "corrected",
            "revision",
            "hashrate_5s_avg",
            "hashrate_5s_max",
            "temperature_max",
            "temperature_max_avg",
            "frequency_avg",
        )
        return [dict(zip(names, row, strict=True)) for row in rows]
    # A site: one point per bucket. Its hashrate is the sum over miners of their mean in the bucket.
    rows = (
        qs.filter(site_id=site.pk)
        .order_by()
        .values(field)
        .annotate(
            n_miners=Count("miner_id", distinct=True),
            n_samples=Sum("samples"),
            n_online=Sum("online_samples"),
            hashrate=Sum(_avg("hashrate_5s_sum", "hashrate_5s_count")),
            temp=Max("temperature_max_max"),
            any_corrected=BoolOr("corrected"),
        )
        .order_by(field)
        .values_list(field, "n_miners", "n_samples", "n_online", "hashrate", "temp", "any_corrected")
    )
    names = ("bucket", "miners", "samples", "online_samples", "hashrate_5s_ghs", "temperature_max", "corrected")
    return [dict(zip(names, row, strict=True)) for row in rows]
