"""The original application's portal-lite API, /api/v1/portal/* (LEGACY_ROUTES.md A16), in its
shapes: the signed-in customer's miners, stats and reports, and the owner's approval step
(customer consent, control.services.consent). Session or personal token (Bearer hip_…). The
caller must be a customer (an operator gets 403 {error}); `?tenant=<slug>` picks one of several
customer tenants, else the first. Errors are {error, error_code} with 400/401/403/404, as the
original's clients read `error`. Read through the portal's and control's selectors."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from control import selectors as command_selectors
from control.errors import BatchNotDecidable, InvalidTransition
from control.legacy_v1_shapes import STATUS, TYPES_OUT, legacy_id, status_of
from control.services import consent
from core.errors import DomainError
from portal import selectors
from portal.legacy_client import ClientMinerSerializer, legacy, miner_row
from portal.reports_v1 import my_reports_body
from tenants.models import Tenant
from tenants.scoping import scope_for

ERRORS = {
    400: OpenApiResponse(description="{error}: a reason is required, or the command is not waiting for you"),
    401: OpenApiResponse(description="{error}: not signed in"),
    403: OpenApiResponse(description="{error}: not a customer, or another tenant"),
    404: OpenApiResponse(description="{error}: no such command among yours"),
}
MAX_MINERS = 5000


class NotACustomer(DomainError):
    status_code = 403
    error_code = "FORBIDDEN"


def error(exc: DomainError) -> Response:
    return Response({"error": exc.message, "error_code": exc.error_code}, status=exc.status_code)


def caller_tenant(request) -> Tenant:
    """The customer tenant of the call (403 for operators and for a tenant not theirs)."""
    ids = scope_for(request.user).customer_tenants_all  # whole, or limited to miner groups (object grants)
    qs = Tenant.objects.filter(pk__in=ids).order_by("slug")
    slug = request.query_params.get("tenant", "")
    tenant = (qs.filter(slug=slug) if slug else qs).first()
    if tenant is None:
        raise NotACustomer("this API is for customers (a customer grant on the tenant)")
    return tenant


class PortalV1Api(APIView):
    def handle_exception(self, exc):
        if isinstance(exc, DomainError):
            return error(exc)
        response = super().handle_exception(exc)
        if response.status_code in (401, 403) and isinstance(response.data, dict) and "error" not in response.data:
            response.data = {"error": str(response.data.get("detail", "")), **response.data}
        return response


def approval_row(c) -> dict:
    return {
        "command_id": legacy_id(c),
        "id": c.pk,
        "command_type": TYPES_OUT.get(c.command_type, c.command_type),
        "miner_id": c.miner.miner_id,
        "site_id": c.site.code,
        "reason": c.reason,
        "status": STATUS[c.state],
        "operator_approved": c.approved_by_id is not None,
        "requested_by_user_id": c.created_by_id,
        "created_at": c.created_at,
        "approval_expires_at": c.approval_expires_at,
    }


class ApprovalSerializer(serializers.Serializer):
    command_id = serializers.CharField(help_text="the original's command id: a batch UUID or the command's id")
    id = serializers.IntegerField()
    command_type = serializers.CharField()
    miner_id = serializers.CharField()
    site_id = serializers.CharField()
    reason = serializers.CharField()
    status = serializers.CharField()
    operator_approved = serializers.BooleanField()
    requested_by_user_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    approval_expires_at = serializers.DateTimeField(allow_null=True)


class MyMinersApi(PortalV1Api):
    @legacy(
        "Your miners with live state (first 5,000).",
        inline_serializer(
            "PortalV1Miners",
            {
                "miners": ClientMinerSerializer(many=True),
                "total": serializers.IntegerField(),
                "customer_id": serializers.CharField(help_text="tenant slug"),
            },
        ),
        errors=ERRORS,
    )
    def get(self, request):
        tenant = caller_tenant(request)
        view = selectors.portal_view_get(request.user, tenant.slug)
        rows, counts = selectors.miner_list(request.user, view.miners(request.user), sort="site")
        return Response(
            {
                "miners": [miner_row(r) for r in rows[:MAX_MINERS]],
                "total": sum(counts.values()),
                "customer_id": tenant.slug,
            }
        )


class MyApprovalsApi(PortalV1Api):
    @legacy(
        "Commands on your miners waiting for your (the owner's) approval.",
        inline_serializer(
            "PortalV1Approvals", {"pending": ApprovalSerializer(many=True), "total": serializers.IntegerField()}
        ),
        errors=ERRORS,
    )
    def get(self, request):
        tenant = caller_tenant(request)
        pending = list(command_selectors.pending_owner_approvals(request.user, [tenant.pk])[:500])
        return Response({"pending": [approval_row(c) for c in pending], "total": len(pending)})


class OwnerDecisionIn(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class DecisionApi(PortalV1Api):
    approve = True

    @legacy(
        "Give (approve) or refuse (deny) the owner's approval of a command on your miners; a batch's "
        "UUID decides every command of it waiting for you, in one transaction: all of them or none "
        "(400 BATCH_NOT_DECIDABLE naming each that cannot be, e.g. one the operator denied meanwhile). "
        "reason is required.",
        inline_serializer(
            "PortalV1Decision",
            {"success": serializers.BooleanField(), "command_status": serializers.CharField()},
        ),
        request=OwnerDecisionIn,
        errors=ERRORS,
    )
    def post(self, request, command_id: str):
        tenant = caller_tenant(request)
        body = OwnerDecisionIn(data=request.data)
        if not body.is_valid():
            return Response({"error": "invalid body", "error_code": "INVALID_PARAMETER"}, status=400)
        q = command_selectors.legacy_group_q(command_id)
        mine = command_selectors.commands_for(request.user).filter(tenant=tenant)
        commands = list(mine.filter(q).order_by("pk")) if q is not None else []
        if not commands:
            return Response({"error": "no such command among yours", "error_code": "NOT_FOUND"}, status=404)
        try:
            done = consent.command_owner_decide_batch(
                actor=Actor.user(request.user),
                user=request.user,
                commands=commands,
                approve=self.approve,
                reason=body.validated_data["reason"],
            )
        except (InvalidTransition, BatchNotDecidable) as exc:  # the original answered 400 here
            return Response({"error": exc.message, "error_code": exc.error_code, **exc.extra}, status=400)
        return Response({"success": True, "command_status": status_of(done)})


class DenyApi(DecisionApi):
    approve = False


class MyReportsApi(PortalV1Api):
    @legacy(
        "The original's three reports of your tenant with their bodies: sla_summary (last full month's SLA "
        "figures, downloads and per-site pages), shadow_bill (available: false, not metered here), "
        "audit_summary (your audit chain's events of the month by action; the evidence pack page).",
        inline_serializer(
            "PortalV1Reports",
            {
                "reports": inline_serializer(
                    "PortalV1Report",
                    {
                        "report_type": serializers.ChoiceField(choices=["sla_summary", "shadow_bill", "audit_summary"]),
                        "name": serializers.CharField(),
                        "description": serializers.CharField(),
                        "available": serializers.BooleanField(),
                        "download_url": serializers.CharField(allow_null=True),
                        "period": serializers.DictField(help_text="{from, to (exclusive)}: the last full month, UTC"),
                        "summary": serializers.DictField(
                            allow_null=True,
                            help_text="sla_summary: the SLA report's summary (docs/REPORTS.md); audit_summary: "
                            "{events, by_action, first_seq, last_seq}; shadow_bill: null",
                        ),
                        "downloads": serializers.DictField(required=False, help_text="sla_summary: json, csv, pdf"),
                        "sites": serializers.ListField(
                            child=serializers.DictField(),
                            required=False,
                            help_text="sla_summary: {site_id, site_name, miners, report_url, evidence_url}",
                        ),
                        "reason": serializers.CharField(required=False, help_text="why a report is not available"),
                    },
                    many=True,
                ),
                "total_assets": serializers.IntegerField(help_text="your miners"),
                "customer_id": serializers.CharField(),
            },
        ),
        errors=ERRORS,
    )
    def get(self, request):
        tenant = caller_tenant(request)
        return Response(my_reports_body(request, tenant, now=timezone.now()))


class MyStatsApi(PortalV1Api):
    @legacy(
        "Your fleet in four numbers: miners, hashrate now (TH/s), power of the online miners (nominal W), "
        "approvals waiting for you.",
        inline_serializer(
            "PortalV1Stats",
            {
                "total_miners": serializers.IntegerField(),
                "total_hashrate_th": serializers.FloatField(),
                "total_power_w": serializers.IntegerField(),
                "pending_approvals": serializers.IntegerField(),
            },
        ),
        errors=ERRORS,
    )
    def get(self, request):
        tenant = caller_tenant(request)
        view = selectors.portal_view_get(request.user, tenant.slug)
        totals = selectors.dashboard_figures(request.user, view.miners(request.user))["totals"]
        pending = command_selectors.pending_owner_approvals(request.user, [tenant.pk]).count()
        return Response(
            {
                "total_miners": totals["miners"],
                "total_hashrate_th": totals["hashrate_ths"],
                "total_power_w": totals["online_nominal_power_w"],
                "pending_approvals": pending,
            }
        )
