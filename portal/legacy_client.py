"""What the original customer portal's JSON routes share (SPEC §11, LEGACY_ROUTES.md "Customer
portal", docs/COMPATIBILITY.md "/hosting/api/client"): the caller's miners, one miner row in the
original's keys beside this product's, and the OpenAPI decoration (deprecated).

- A miner's integer `id` is the Miner's database id (as on every legacy route; the original
  database import keeps the original ids where it can); `serial_number` is the edge's miner_id.
- `status` speaks the original's words (`active` = online here, `offline`, `unknown`); `state`
  is this product's derived state (SPEC §5).
- Revenue, cost and profit keys are always null: this product keeps no prices.
- Power is the miner's nominal power (W), as the original's `actual_power` was a typed-in figure."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers

from portal import selectors
from telemetry.selectors import ONLINE
from tenants import scoping

DEPRECATED = "Legacy path of the original customer portal (SPEC §11): deprecated, never removed. "
ERRORS = {
    400: OpenApiResponse(description="INVALID_PARAMETER: malformed parameters"),
    401: OpenApiResponse(description="UNAUTHENTICATED: not signed in"),
    403: OpenApiResponse(description="FORBIDDEN: outside your scope (the same whether it exists or not)"),
}
# A slug as SlugField(max_length=64) reads it (reports/generate validates it; the GET routes answer 403 for one
# that names no tenant of yours): issue 18 `make fuzz`, `?tenant=%22%07` was schema-valid and refused.
TENANT_PARAM = OpenApiParameter(
    "tenant",
    {"type": "string", "maxLength": 64, "pattern": "^[-a-zA-Z0-9_]+$"},
    description="Tenant slug: only this tenant's miners (one you may open in the portal)",
)
MAX_PER_PAGE = 500
# this product's state -> the original's miner status words (its pages colour `active` and `offline`)
ORIGINAL_STATUS = {ONLINE: "active"}


def legacy(description: str, response, parameters=(), *, request=None, errors=ERRORS, operation_id=None):
    return extend_schema(
        operation_id=operation_id,
        deprecated=True,
        description=DEPRECATED + description,
        request=request,
        responses={200: response, **errors},
        parameters=[TENANT_PARAM, *parameters],
        tags=["legacy"],
    )


def caller_miners(request):
    """The caller's miners (a customer's own, an operator's sites'), or one tenant's of them
    (`?tenant=`, 403 FORBIDDEN for a tenant they may not open, existing or not)."""
    slug = request.query_params.get("tenant", "")
    if slug:
        return selectors.portal_view_get(request.user, slug).miners(request.user)
    return scoping.miners_for(request.user)


def ths(value) -> float | None:
    return None if value is None else round(float(value), 3)


def miner_row(r: dict) -> dict:
    """One row of selectors.miner_list in the original's keys (id, serial_number, miner_model,
    site_name, hashrate, power_consumption, status, daily_revenue, uptime) and this product's."""
    uptime = r["lv__uptime_seconds"]
    uptime_hours = None if uptime is None else round(uptime / 3600.0, 1)
    return {
        "id": r["pk"],
        "serial_number": r["miner_id"],
        "miner_id": r["miner_id"],
        "site_id": r["site__code"],
        "site_name": r["site__name"],
        "zone_id": r["zone__code"],
        "miner_model": r["model"],
        "status": ORIGINAL_STATUS.get(r["state"], r["state"]),
        "state": r["state"],
        "hashrate": ths(r["hashrate_ths"]),
        "nominal_hashrate": ths(r["nominal_hashrate_ths"]),
        "power_consumption": r["nominal_power_w"],
        "temperature_max": r["lv__temperature_max"],
        "uptime": uptime_hours,
        "daily_revenue": None,
        "last_seen": r["lv__ts"],
    }


class ClientMinerSerializer(serializers.Serializer):
    """One miner in the legacy client answers (documentation only: rows are built by miner_row)."""

    id = serializers.IntegerField(help_text="the Miner's database id (the original's integer miner id)")
    serial_number = serializers.CharField(help_text="the edge's miner_id")
    miner_id = serializers.CharField()
    site_id = serializers.CharField(help_text="Site.code")
    site_name = serializers.CharField()
    zone_id = serializers.CharField(allow_null=True)
    miner_model = serializers.CharField()
    status = serializers.CharField(help_text="the original's words: active (online) | offline | unknown")
    state = serializers.CharField(help_text="online | offline | unknown (derived, SPEC §5)")
    hashrate = serializers.FloatField(allow_null=True, help_text="TH/s now (hashrate_5s)")
    nominal_hashrate = serializers.FloatField(allow_null=True, help_text="TH/s")
    power_consumption = serializers.IntegerField(allow_null=True, help_text="nominal power, W")
    temperature_max = serializers.FloatField(allow_null=True)
    uptime = serializers.FloatField(allow_null=True, help_text="hours, from the last sample")
    daily_revenue = serializers.FloatField(allow_null=True, help_text="always null: no prices here")
    last_seen = serializers.DateTimeField(allow_null=True)
