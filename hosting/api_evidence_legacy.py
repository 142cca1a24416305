"""The original site page's evidence package (SPEC §9, §11; docs/COMPATIBILITY.md "/hosting/api (operator)"):

    GET /hosting/api/sites/<site_id>/evidence-package?start_date=&end_date=[&tenant=][&format=json|zip]

answered by the hosting evidence pack (hosting.services.evidence, docs/EVIDENCE_PACK.md), deprecated and
never removed. A pack here is one tenant's miners at the site (its owner at the time), so a site's
package is one pack per tenant that owned miners there in the period (`tenant=` narrows it to one):
`{success, package: {site_id, site_code, site_name, start_date, end_date, status, packs: [...]}}`,
each pack with its status and download URL. Periods up to EVIDENCE_PACK_SYNC_MAX_HOURS are built in
the request, longer ones by a worker. `format=zip` answers the zip itself when the package is one
ready pack. Dates are UTC days, `end_date` inclusive (default: the last 7 days up to today).
Operators with site-level view only; another site and a missing one answer the same 403 FORBIDDEN."""

import datetime as dt

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from core.errors import Forbidden, InvalidParameter
from hosting.api.common import DEPRECATED, ERRORS, valid
from hosting.api_evidence import FAILED_STATUS, pack_body, pack_build_or_queue, zip_response
from hosting.models import EvidencePackStatus
from hosting.selectors.evidence import evidence_period_check, evidence_scope_get
from hosting.services.evidence import evidence_pack_request
from telemetry.api_read import QueryFormatIsOurs
from telemetry.legacy_shapes import legacy_site_get, legacy_site_ids
from tenants.models import Tenant
from tenants.permissions import IsOperator

DEFAULT_DAYS = 7
S = EvidencePackStatus


class PackageIn(serializers.Serializer):
    start_date = serializers.DateField(required=False, help_text="first UTC day (default: 7 days before end_date)")
    end_date = serializers.DateField(required=False, help_text="last UTC day, inclusive (default: today)")
    tenant = serializers.SlugField(required=False, max_length=64, help_text="only this tenant's pack")
    format = serializers.ChoiceField(choices=["json", "zip"], required=False, default="json")


def _period(data: dict) -> tuple[dt.datetime, dt.datetime]:
    today = timezone.now().astimezone(dt.UTC).date()
    last = data.get("end_date") or today
    first = data.get("start_date") or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    evidence_period_check(start, end)
    return start, end


def _owners(user, site, tenant_slug: str, start, end) -> list[Tenant]:
    """The tenants this user may have a pack of at the site for the period (each checked by the one
    evidence scope selector); 403 when naming one they may not."""
    if tenant_slug:
        return [evidence_scope_get(user, site_code=site.code, tenant_slug=tenant_slug, start=start, end=end)[1]]
    owners = []
    for slug in (
        Tenant.objects.filter(ownerships__miner__site=site).distinct().order_by("slug").values_list("slug", flat=True)
    ):
        try:
            owners.append(evidence_scope_get(user, site_code=site.code, tenant_slug=slug, start=start, end=end)[1])
        except Forbidden:
            continue  # no miners of theirs there in the period
    return owners


def _overall(packs) -> str:
    states = {p.status for p in packs}
    for status in (S.FAILED, S.BUILDING, S.QUEUED):
        if status in states:
            return status
    return S.READY if packs else "empty"


class LegacySiteEvidencePackageApi(APIView):
    """GET /hosting/api/sites/<site_id>/evidence-package (deprecated): the site's evidence packs."""

    permission_classes = [IsOperator]
    content_negotiation_class = QueryFormatIsOurs  # ?format=zip is the original's, not a DRF renderer

    @extend_schema(
        deprecated=True,
        tags=["legacy"],
        parameters=[PackageIn, OpenApiParameter("site_id", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses={
            200: OpenApiTypes.OBJECT,
            202: OpenApiTypes.OBJECT,
            **ERRORS,
            500: OpenApiResponse(OpenApiTypes.OBJECT, description="STORAGE_ERROR or PACK_BUILD_FAILED: a pack failed"),
            507: OpenApiResponse(OpenApiTypes.OBJECT, description="STORAGE_FULL: the pack storage is full"),
            410: OpenApiResponse(
                description="PACK_FILE_MISSING (format=zip): the pack's file was gone from the storage when served"
            ),
        },
        description=DEPRECATED
        + "One evidence pack per tenant that owned miners at the site in the period; 202 while a worker builds "
        "them, `format=zip` answers the zip of a one-pack package. Use GET /api/v1/hosting/evidence_pack.",
    )
    def get(self, request, site_id: int):
        site = legacy_site_get(request.user, str(site_id))  # scope first: another site says nothing more
        data = valid(PackageIn, request.query_params)
        start, end = _period(data)
        owners = _owners(request.user, site, data.get("tenant", ""), start, end)
        if data["format"] == "zip" and len(owners) != 1:
            raise InvalidParameter(
                f"format=zip needs one pack; the site had {len(owners)} tenants in the period: name one (`tenant`)",
                field="format",
            )
        packs = [
            pack_build_or_queue(
                evidence_pack_request(
                    actor=Actor.user(request.user), user=request.user, site=site, tenant=t, start=start, end=end
                )
            )
            for t in owners
        ]
        overall = _overall(packs)
        if data["format"] == "zip" and overall == S.READY:
            return zip_response(packs[0], request.user)
        package = {
            "site_id": legacy_site_ids([site.pk])[site.pk],
            "site_code": site.code,
            "site_name": site.name,
            "start_date": start.date().isoformat(),
            "end_date": (end.date() - dt.timedelta(days=1)).isoformat(),
            "status": overall,
            "packs": [pack_body(p) for p in packs],
        }
        if overall == S.FAILED:
            failed = next(p for p in packs if p.status == S.FAILED)
            body = {"success": False, "error_code": failed.error_code, "error": failed.public_error, "package": package}
            return Response(body, status=FAILED_STATUS.get(failed.error_code, 500))
        return Response({"success": True, "package": package}, status=202 if overall in (S.QUEUED, S.BUILDING) else 200)
