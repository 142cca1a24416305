"""Evidence packs: requested (audited), built by hosting.evidence into Django's storage with
visible progress, by a worker for long periods or in the request for short ones."""

import datetime as dt

import structlog
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from core.replica import replica_reads
from hosting.evidence.builder import build_context, build_pack_zip
from hosting.models import EvidencePack, EvidencePackStatus

logger = structlog.get_logger(__name__)


def _event(pack: EvidencePack, action: str, actor: Actor, **payload) -> None:
    audit_record(
        actor=actor,
        action=f"hosting.evidence_pack.{action}",
        entity=pack,
        payload={
            "site": pack.site.code,
            "from": pack.period_start,
            "to": pack.period_end,
            "status": pack.status,
            **payload,
        },
        tenant_id=pack.tenant_id,
        site_code=pack.site.code,
    )


@transaction.atomic
def evidence_pack_request(*, actor: Actor, user, site, tenant, start: dt.datetime, end: dt.datetime) -> EvidencePack:
    """A queued pack (ABAC and the period are checked by hosting.selectors.evidence before)."""
    pack = EvidencePack.objects.create(
        tenant=tenant, site=site, period_start=start, period_end=end, requested_by=user, step="queued"
    )
    _event(pack, "requested", actor)
    return pack


def _progress(pk: int):
    def report(pct: int, step: str) -> None:
        # Outside the build's reads (each section has its own snapshot): the status API sees it now.
        EvidencePack.objects.filter(pk=pk).update(progress=pct, step=step)

    return report


def evidence_pack_build(*, pack_id: int, now: dt.datetime | None = None) -> EvidencePack:
    """Build a queued pack; safe to run twice (only the run that claims it builds)."""
    claimed = EvidencePack.objects.filter(pk=pack_id, status=EvidencePackStatus.QUEUED).update(
        status=EvidencePackStatus.BUILDING, started_at=timezone.now(), progress=1, step="starting"
    )
    pack = EvidencePack.objects.select_related("site", "tenant", "requested_by").get(pk=pack_id)
    if not claimed:
        return pack
    actor = Actor.system("hosting.evidence_pack")
    try:
        # The pack's data may be read from the replica (core/replica.py); its own row, claimed and
        # saved above and below, stays on the primary.
        with replica_reads():
            path, digest, size = build_pack_zip(build_context(pack, progress=_progress(pack.pk), now=now))
    except Exception as exc:
        logger.exception("evidence_pack.failed", pack=pack.pk)
        with transaction.atomic():
            pack.status, pack.error, pack.finished_at = EvidencePackStatus.FAILED, str(exc)[:2000], timezone.now()
            pack.step = "failed"
            pack.save(update_fields=["status", "error", "finished_at", "step"])
            _event(pack, "failed", actor, error=type(exc).__name__)
        return pack
    try:
        with open(path, "rb") as f, transaction.atomic():
            pack.file.save(pack.filename, File(f), save=False)
            pack.sha256, pack.size, pack.status = digest, size, EvidencePackStatus.READY
            pack.progress, pack.step, pack.finished_at = 100, "ready", timezone.now()
            pack.save(update_fields=["file", "sha256", "size", "status", "progress", "step", "finished_at"])
            _event(pack, "built", actor, sha256=digest, bytes=size)
    finally:
        path.unlink(missing_ok=True)
    return pack
