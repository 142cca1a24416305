"""Evidence pack API (SPEC §9, docs/EVIDENCE_PACK.md).

GET /api/v1/hosting/evidence_pack?site_id=&from=&to=[&tenant=] requests a pack: a period up to
EVIDENCE_PACK_SYNC_MAX_HOURS is built in the request and answered with the zip; a longer one is
queued for a worker (202 with the pack's status URL). Outside the caller's scope → 403 FORBIDDEN,
the same whether the site, tenant or pack exists or not."""

import datetime as dt
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from core.errors import Conflict, DomainError
from hosting.models import EvidencePack, EvidencePackStatus
from hosting.models.evidence import PACK_FILE_MISSING, STORAGE_FULL
from hosting.selectors.evidence import evidence_pack_get, evidence_period_check, evidence_scope_get
from hosting.services.evidence import evidence_pack_build, evidence_pack_file_missing, evidence_pack_request

ERRORS = {
    400: OpenApiResponse(description="INVALID_PARAMETER: bad or reversed dates, or a period over the limit"),
    401: OpenApiResponse(description="UNAUTHENTICATED: not signed in"),
    403: OpenApiResponse(description="FORBIDDEN: outside your scope (the same whether it exists or not)"),
}
ZIP = OpenApiResponse(OpenApiTypes.BINARY, description="the pack (application/zip)")


class PackSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=EvidencePackStatus.choices)
    progress = serializers.IntegerField(help_text="0–100")
    step = serializers.CharField()
    site_id = serializers.CharField(source="site.code")
    tenant = serializers.CharField(source="tenant.slug")
    period_from = serializers.DateTimeField(source="period_start")
    period_to = serializers.DateTimeField(source="period_end")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    sha256 = serializers.CharField(help_text="SHA-256 of the zip, once ready")
    size = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(
        source="public_error", help_text="why a failed pack failed, e.g. `STORAGE_FULL: the pack storage is full, …`"
    )
    error_code = serializers.CharField(
        help_text="a failed pack's code: STORAGE_FULL, STORAGE_ERROR, PACK_FILE_MISSING or PACK_BUILD_FAILED; "
        "empty otherwise"
    )
    status_url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    def get_status_url(self, pack) -> str:
        return reverse("hosting-evidence-pack", kwargs={"pk": pack.pk})

    def get_download_url(self, pack) -> str | None:
        if pack.status != EvidencePackStatus.READY:
            return None
        return reverse("hosting-evidence-pack-download", kwargs={"pk": pack.pk})


def pack_body(pack: EvidencePack) -> dict:
    return PackSerializer(pack).data


class PackFileMissing(DomainError):
    """410 Gone: the pack was ready, its file is no longer in the storage; a new request builds it again."""

    status_code = 410
    error_code = PACK_FILE_MISSING


def zip_response(pack: EvidencePack, user) -> FileResponse:
    """The pack's zip. A ready pack whose file the storage no longer has (FileNotFoundError: the
    filesystem's, and django-storages' S3 backend's for a missing key) is marked failed and answers
    410 PACK_FILE_MISSING, never a 500 or part of a zip."""
    try:
        if not pack.file.name:
            raise FileNotFoundError(pack.pk)
        handle = pack.file.open("rb")
    except FileNotFoundError:
        raise _gone(evidence_pack_file_missing(actor=Actor.user(user), pack=pack)) from None
    response = FileResponse(handle, as_attachment=True, filename=pack.filename, content_type="application/zip")
    response["X-Evidence-Pack-Id"] = str(pack.pk)
    response["X-Evidence-Pack-SHA256"] = pack.sha256
    return response


def _gone(pack: EvidencePack) -> PackFileMissing:
    return PackFileMissing(
        f"the pack failed: {pack.error_message}", status=pack.status, id=pack.pk, request_url=_request_url(pack)
    )


def _request_url(pack: EvidencePack) -> str:
    """The request of a new pack of the same scope and period."""
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    query = {
        "site_id": pack.site.code,
        "tenant": pack.tenant.slug,
        "from": pack.period_start.astimezone(dt.UTC).strftime(fmt),
        "to": pack.period_end.astimezone(dt.UTC).strftime(fmt),
    }
    return f"{reverse('hosting-evidence-request')}?{urlencode(query)}"


def pack_build_or_queue(pack: EvidencePack) -> EvidencePack:
    """A period up to EVIDENCE_PACK_SYNC_MAX_HOURS is built now (ready, or failed); a longer one is
    queued for a worker once the request commits. Built here without the worker's session lock: the
    pack is this request's own, and web may be behind PgBouncer (docs/DEPLOYMENT.md "PgBouncer")."""
    if pack.period_end - pack.period_start <= dt.timedelta(hours=settings.EVIDENCE_PACK_SYNC_MAX_HOURS):
        return evidence_pack_build(pack_id=pack.pk, session_lock=False)
    from hosting.tasks import evidence_pack_build_task

    transaction.on_commit(lambda: evidence_pack_build_task.delay(pack.pk))
    return pack


# A pack built in the request that failed, by its error_code: 507 Insufficient Storage (RFC 4918) when
# the pack storage is full — nothing was stored, the same request succeeds once space is freed.
FAILED_STATUS = {STORAGE_FULL: 507, PACK_FILE_MISSING: 410}


def failed_pack_response(pack: EvidencePack) -> Response:
    """The pack, with its error and error_code: 507 STORAGE_FULL, else 500 (STORAGE_ERROR: the storage
    refused the file; PACK_BUILD_FAILED: the builder raised). Never a zip."""
    return Response(pack_body(pack), status=FAILED_STATUS.get(pack.error_code, 500))


class EvidencePackRequestApi(APIView):
    """GET /api/v1/hosting/evidence_pack — a pack of the caller's miners at one site for a period."""

    class InputSerializer(serializers.Serializer):
        site_id = serializers.CharField(max_length=64)
        tenant = serializers.SlugField(required=False, allow_blank=True, max_length=64, help_text="operators: required")
        # `from` is a Python keyword: declared through the class namespace
        vars()["from"] = serializers.DateTimeField(help_text="period start (ISO 8601, UTC if no offset)")
        to = serializers.DateTimeField(help_text="period end, exclusive")

    @extend_schema(
        parameters=[InputSerializer],
        responses={
            200: ZIP,
            202: PackSerializer,
            **ERRORS,
            500: OpenApiResponse(
                PackSerializer, description="PACK_BUILD_FAILED or STORAGE_ERROR: the failed pack, with its error"
            ),
            507: OpenApiResponse(
                PackSerializer,
                description="STORAGE_FULL: the pack storage is full; the failed pack, nothing of it stored",
            ),
            410: OpenApiResponse(description="PACK_FILE_MISSING: the built pack's file was gone from the storage"),
        },
        description=(
            "Periods up to EVIDENCE_PACK_SYNC_MAX_HOURS (24) answer with the zip; longer ones (up to "
            "EVIDENCE_PACK_MAX_DAYS, 93) answer 202 with the pack's status URL, built by a worker."
        ),
    )
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        p = params.validated_data
        start, end = p["from"].astimezone(dt.UTC), p["to"].astimezone(dt.UTC)
        evidence_period_check(start, end)
        site, tenant = evidence_scope_get(
            request.user, site_code=p["site_id"], tenant_slug=p.get("tenant", ""), start=start, end=end
        )
        pack = evidence_pack_request(
            actor=Actor.user(request.user), user=request.user, site=site, tenant=tenant, start=start, end=end
        )
        pack = pack_build_or_queue(pack)
        if pack.status == EvidencePackStatus.READY:
            return zip_response(pack, request.user)
        if pack.status == EvidencePackStatus.QUEUED:
            return Response(pack_body(pack), status=202)
        return failed_pack_response(pack)


class EvidencePackStatusApi(APIView):
    """GET /api/v1/hosting/evidence_packs/<id> — status and progress of a pack."""

    @extend_schema(responses={200: PackSerializer, **ERRORS})
    def get(self, request, pk: int):
        return Response(pack_body(evidence_pack_get(request.user, pk)))


class EvidencePackDownloadApi(APIView):
    """GET /api/v1/hosting/evidence_packs/<id>/download — the zip, once ready: 409 CONFLICT while queued
    or building, 409 with the pack's error_code (STORAGE_FULL, …) once it failed, 410 PACK_FILE_MISSING
    once a ready pack's file was found gone from the storage. Never part of a zip."""

    @extend_schema(
        responses={
            200: ZIP,
            409: OpenApiResponse(
                description="CONFLICT: not ready yet; STORAGE_FULL, STORAGE_ERROR or PACK_BUILD_FAILED: the pack "
                "failed (request a new one)"
            ),
            410: OpenApiResponse(
                description="PACK_FILE_MISSING: the pack was ready but its file is no longer in the pack storage; "
                "the pack is now failed, `request_url` requests a new one of the same period"
            ),
            **ERRORS,
        }
    )
    def get(self, request, pk: int):
        pack = evidence_pack_get(request.user, pk)
        if pack.error_code == PACK_FILE_MISSING:
            raise _gone(pack)
        if pack.status == EvidencePackStatus.FAILED:
            raise Conflict(f"the pack failed: {pack.error_message}", error_code=pack.error_code, status=pack.status)
        if pack.status != EvidencePackStatus.READY:
            raise Conflict(f"the pack is {pack.status}", status=pack.status)
        return zip_response(pack, request.user)
