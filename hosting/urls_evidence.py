"""Evidence pack routes (docs/EVIDENCE_PACK.md)."""

from django.urls import path

from hosting import api_evidence, api_evidence_legacy

urlpatterns: list = [
    path(
        "api/v1/hosting/evidence_pack", api_evidence.EvidencePackRequestApi.as_view(), name="hosting-evidence-request"
    ),
    path(
        "api/v1/hosting/evidence_packs/<int:pk>",
        api_evidence.EvidencePackStatusApi.as_view(),
        name="hosting-evidence-pack",
    ),
    path(
        "api/v1/hosting/evidence_packs/<int:pk>/download",
        api_evidence.EvidencePackDownloadApi.as_view(),
        name="hosting-evidence-pack-download",
    ),
    # the original site page's evidence package (legacy, hosting/api_evidence_legacy.py)
    path(
        "hosting/api/sites/<int:site_id>/evidence-package",
        api_evidence_legacy.LegacySiteEvidencePackageApi.as_view(),
        name="legacy-hosting-site-evidence-package",
    ),
]
