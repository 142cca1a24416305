"""The original operator pages' fleet reads (SPEC §11; docs/COMPATIBILITY.md "/hosting/api (operator)"):
deprecated, never removed, answered in the original's shapes over this product's selectors
(portal.selectors.miner_list and dashboard_figures, telemetry's history, hosting's alerts and work
orders). Operators only (customers 403, anonymous 401), in their site scope: a site or miner
outside it answers the same 403 FORBIDDEN as a missing one. Rows: portal/legacy_fleet.py.

    GET /hosting/api/miners[?page&per_page&status&site_id&customer_id&model&sort_by&sort_dir]
    GET /hosting/api/miners/<miner_id>   GET /hosting/api/miners/<miner_id>/telemetry-history
    GET /hosting/api/sites   GET /hosting/api/sites/<site_id>   GET /hosting/api/overview"""

import datetime as dt

from django.core.paginator import Paginator
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import page_number_field
from core.errors import Forbidden
from hosting.models import WorkOrderStatus
from hosting.selectors.alerts import alert_list
from hosting.selectors.work_orders import work_orders_for
from portal import legacy_fleet as rows
from portal import selectors
from telemetry import selectors as telemetry
from telemetry import selectors_history
from telemetry.legacy_shapes import legacy_site_get, legacy_site_ids, utc_iso
from tenants import scoping
from tenants.permissions import IsOperator

DEPRECATED = "Legacy path of the original operator pages (SPEC §11): deprecated, never removed. "
ERRORS = {
    400: OpenApiResponse(description="INVALID_PARAMETER: malformed parameters"),
    401: OpenApiResponse(description="UNAUTHENTICATED: not signed in"),
    403: OpenApiResponse(description="FORBIDDEN: not an operator, or outside your scope (existing or not)"),
}
OBJECT = OpenApiTypes.OBJECT
OPEN_TICKETS = (WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS, WorkOrderStatus.WAITING_CUSTOMER)


def legacy(description: str, response=OBJECT, *, parameters=(), operation_id=None):
    return extend_schema(
        operation_id=operation_id,
        deprecated=True,
        description=DEPRECATED + description,
        responses={200: response, **ERRORS},
        parameters=list(parameters),
        tags=["legacy"],
    )


class LegacyFleetView(APIView):
    permission_classes = [IsOperator]


def _valid(serializer_class, data) -> dict:
    s = serializer_class(data=data)
    s.is_valid(raise_exception=True)
    return s.validated_data


# --- miners -----------------------------------------------------------------------------------------


class MinerFilterIn(serializers.Serializer):
    page = page_number_field()
    per_page = serializers.IntegerField(required=False, min_value=1, max_value=rows.PER_PAGE_MAX, default=20)
    status = serializers.ChoiceField(
        choices=[*rows.STATUS_FILTER, *rows.NO_MINERS_STATUS],
        required=False,
        help_text="active (= online) | offline | unknown; maintenance / error / curtailed match no miner here",
    )
    approval_status = serializers.CharField(
        required=False, max_length=32, help_text="every miner here is `approved`; any other value matches none"
    )
    site_id = serializers.CharField(required=False, max_length=64, help_text="the original's integer id, or a code")
    customer_id = serializers.IntegerField(required=False, min_value=1, help_text="the tenant's id")
    model = serializers.CharField(required=False, max_length=64, help_text="the model name (no model catalogue)")
    sort_by = serializers.ChoiceField(choices=list(rows.SORTS), required=False, default="serial_number")
    sort_dir = serializers.ChoiceField(choices=["asc", "desc"], required=False, default="asc")
    include_metrics = serializers.CharField(required=False, max_length=8, help_text="accepted; revenue is not computed")


def _scoped_miners(user, f: dict):
    miners = scoping.miners_for(user)
    if "site_id" in f:
        miners = miners.filter(site=legacy_site_get(user, f["site_id"]))
    if "customer_id" in f:
        miners = miners.filter(tenant_id=f["customer_id"])
    if "model" in f:
        miners = miners.filter(model=f["model"])
    if f.get("status") in rows.NO_MINERS_STATUS or f.get("approval_status", "approved") != "approved":
        miners = miners.none()
    return miners


class LegacyHostingMinersApi(LegacyFleetView):
    """GET /hosting/api/miners — {success, miners, counts, pagination} (the miner management page)."""

    @legacy(
        "The miners of your sites in the original's row (HostingMiner.to_dict() keys, a `telemetry` block and the "
        "miner's open `alerts`), page-numbered (`per_page` 1–500, default 20). `counts` = {total, active (online), "
        "pending (0)} plus per state, over the same filters but `status`.",
        parameters=[MinerFilterIn],
    )
    def get(self, request):
        f = _valid(MinerFilterIn, request.query_params)
        miners = _scoped_miners(request.user, f)
        sort = ("-" if f["sort_dir"] == "desc" else "") + rows.SORTS[f["sort_by"]]
        state = rows.STATUS_FILTER.get(f.get("status", ""), "")
        qs, counts = selectors.miner_list(request.user, miners, state=state, sort=sort)
        paginator = Paginator(qs.values(*selectors.MINER_COLUMNS, *rows.EXTRA_COLUMNS), f["per_page"])
        page = paginator.get_page(f["page"])
        return Response(
            {
                "success": True,
                "miners": rows.miner_rows(request.user, list(page.object_list)),
                "counts": {"total": sum(counts.values()), "active": counts[telemetry.ONLINE], "pending": 0, **counts},
                "pagination": {
                    "page": page.number,
                    "pages": paginator.num_pages,
                    "per_page": paginator.per_page,
                    "total": paginator.count,
                    "has_next": page.has_next(),
                    "has_prev": page.has_previous(),
                },
            }
        )


def _miner_row(user, miner_pk: int) -> dict:
    miners = scoping.miners_for(user).filter(pk=miner_pk)
    qs, _ = selectors.miner_list(user, miners)
    found = list(qs.values(*selectors.MINER_COLUMNS, *rows.EXTRA_COLUMNS))
    if not found:
        raise Forbidden(scoping.FORBIDDEN_MESSAGE)
    return rows.miner_rows(user, found)[0]


class LegacyHostingMinerApi(LegacyFleetView):
    """GET /hosting/api/miners/<miner_id> — {success, miner} (the miner detail dialog)."""

    @legacy(
        "One miner of your sites by its database id: the list's row plus `miner_model_name` and `site_location` "
        "(null). Another site's miner and a missing id answer the same 403 FORBIDDEN.",
        operation_id="legacy_hosting_miner_detail",
    )
    def get(self, request, miner_id: int):
        miner = _miner_row(request.user, miner_id)
        return Response({"success": True, "miner": {**miner, "site_location": None}})


class LegacyHostingMinerHistoryApi(LegacyFleetView):
    """GET /hosting/api/miners/<miner_id>/telemetry-history — {success, data} (the miner's chart)."""

    @legacy(
        "The last 24 h of the miner's 1-minute buckets (UTC `%Y-%m-%d %H:%M:%S`), else — as the original fell back "
        "— its last 50 quarter-hours of the last 30 days. `hashrate` TH/s (the bucket's mean), `temperature` °C "
        "(hottest chip, the bucket's mean), `power_consumption` null (power is not metered per miner).",
        inline_serializer(
            "LegacyHostingMinerHistory",
            {
                "success": serializers.BooleanField(),
                "data": inline_serializer(
                    "LegacyHostingMinerHistoryData",
                    {
                        "timestamps": serializers.ListField(child=serializers.CharField()),
                        "hashrate": serializers.ListField(child=serializers.FloatField(allow_null=True)),
                        "temperature": serializers.ListField(child=serializers.FloatField(allow_null=True)),
                        "power_consumption": serializers.ListField(child=serializers.FloatField(allow_null=True)),
                    },
                ),
            },
        ),
    )
    def get(self, request, miner_id: int):
        miner = scoping.object_get(scoping.miners_for(request.user), miner_id)
        now = timezone.now()
        points = selectors_history.history(
            request.user, tier="1m", start=now - dt.timedelta(hours=24), end=now, miner=miner
        )
        if not points:
            points = selectors_history.history(
                request.user, tier="15m", start=now - dt.timedelta(days=30), end=now, miner=miner
            )[-rows.HISTORY_FALLBACK_POINTS :]
        data = {
            "timestamps": [p["bucket"].astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") for p in points],
            "hashrate": [
                None if p["hashrate_5s_avg"] is None else round(p["hashrate_5s_avg"] / 1000, 3) for p in points
            ],
            "temperature": [
                None if p["temperature_max_avg"] is None else round(p["temperature_max_avg"], 1) for p in points
            ],
            "power_consumption": [None for _ in points],
        }
        return Response({"success": True, "data": data})


# --- sites and overview -------------------------------------------------------------------------------


def _sites(user) -> list[dict]:
    """Every site of the user's scope in the original's dict, with its miner counts (two grouped queries)."""
    sites = list(scoping.sites_for(user).order_by("code"))
    ids = legacy_site_ids(s.pk for s in sites)
    figures = {f["code"]: f for f in selectors.dashboard_figures(user, scoping.miners_for(user))["sites"]}
    uploads = telemetry.site_uploads(user)
    last = uploads[0] if uploads is not None else {}
    return [
        rows.site_dict(s, legacy_id=ids[s.pk], last_upload=last.get(s.pk), figures=figures.get(s.code, {}))
        for s in sites
    ]


class LegacyHostingSitesApi(LegacyFleetView):
    """GET /hosting/api/sites — {success, sites} (every operator page's site picker)."""

    @legacy(
        "The sites of your scope in the original's keys (`id` = the original's integer id: the `legacy_id` alias, "
        "else the pk; `slug` = the code), with `device_count` / `devices_count` (miners) and `active_devices` "
        "(online). `status` is online while a collector of the site uploads. Capacity, rate and location are null."
    )
    def get(self, request):
        return Response({"success": True, "sites": _sites(request.user)})


class LegacyHostingSiteApi(LegacyFleetView):
    """GET /hosting/api/sites/<site_id> — {success, site} with miners_stats and recent_incidents."""

    @legacy(
        "One site of your scope (its original integer id, its pk or its code) in the list's keys, plus "
        "`miners_stats` (per status: count, total_hashrate TH/s, total_power W nominal) and `recent_incidents` "
        "(its 10 newest alerts of the last 30 days). Another site and a missing one answer the same 403.",
        parameters=[OpenApiParameter("site_id", OpenApiTypes.STR, OpenApiParameter.PATH)],
        operation_id="legacy_hosting_site_detail",
    )
    def get(self, request, site_id: int):
        site = legacy_site_get(request.user, str(site_id))
        miners = scoping.miners_for(request.user).filter(site=site)
        figures = next(iter(selectors.dashboard_figures(request.user, miners)["sites"]), {})
        uploads = telemetry.site_uploads(request.user)
        body = rows.site_dict(
            site,
            legacy_id=legacy_site_ids([site.pk])[site.pk],
            last_upload=(uploads[0] if uploads is not None else {}).get(site.pk),
            figures=figures,
        )
        since = timezone.now() - dt.timedelta(days=30)
        incidents = alert_list(request.user, site=site).filter(fired_at__gte=since)[:10]
        body["miners_stats"] = rows.miners_stats(figures) if figures else []
        body["recent_incidents"] = [
            {
                "id": a.pk,
                "title": a.title,
                "severity": a.severity,
                "status": a.state,
                "created_at": utc_iso(a.fired_at),
            }
            for a in incidents
        ]
        return Response({"success": True, "site": body})


class LegacyHostingOverviewApi(LegacyFleetView):
    """GET /hosting/api/overview — {success, data} (the host dashboard's cards)."""

    @legacy(
        "Your scope at a glance: sites (online while a collector uploads), miners (active = online), capacity "
        "(null: not kept here), alerts.recent_incidents (alerts raised in the last 7 days) and "
        "alerts.pending_tickets (work orders open, in progress or waiting for the customer)."
    )
    def get(self, request):
        user = request.user
        figures = selectors.dashboard_figures(user, scoping.miners_for(user))["totals"]
        uploads = telemetry.site_uploads(user)
        last = uploads[0] if uploads is not None else {}
        site_pks = list(scoping.sites_for(user).values_list("pk", flat=True))
        online = sum(1 for pk in site_pks if rows.site_status(last.get(pk)) == "online")
        alerts = rows.alert_counts(user, since=timezone.now() - dt.timedelta(days=7))
        tickets = work_orders_for(user).filter(status__in=OPEN_TICKETS).count()
        data = {
            "sites": {"total": len(site_pks), "online": online, "offline": len(site_pks) - online},
            "miners": {
                "total": figures["miners"],
                "active": figures[telemetry.ONLINE],
                "inactive": figures["miners"] - figures[telemetry.ONLINE],
            },
            "capacity": {"total_mw": None, "used_mw": None, "utilization_rate": None},
            "alerts": {"recent_incidents": alerts["recent"], "open_alerts": alerts["open"], "pending_tickets": tickets},
        }
        return Response({"success": True, "data": data})
