"""Evidence packs: requested (audited), built by hosting.evidence into Django's storage with
visible progress, by a worker for long periods or in the request for short ones."""

import datetime as dt
import errno

import structlog
from django.core.files import File
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from core.periodic import advisory_lock_key, advisory_try_lock
from core.replica import replica_reads
from hosting import metrics
from hosting.evidence.builder import build_context, build_pack_zip
from hosting.models import EvidencePack, EvidencePackStatus
from hosting.models.evidence import PACK_FILE_MISSING, STORAGE_ERROR, STORAGE_FULL

logger = structlog.get_logger(__name__)

# A second delivery of a pack's task waits this long for a builder that may be dying (kill -9: its
# session, and the lock, go away within seconds); a live builder keeps the lock and wins.
REBUILD_LOCK_WAIT_SEC = 10


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


def _pack_lock_key(pack_id: int) -> int:
    return advisory_lock_key(f"evidence_pack:{pack_id}")


def evidence_pack_build(*, pack_id: int, now: dt.datetime | None = None, session_lock: bool = True) -> EvidencePack:
    """Build a queued pack; safe to run twice (only the run holding the pack's lock builds).

    The lock is a PostgreSQL session advisory lock held for the whole build: a builder killed
    mid-build (kill -9) loses its session and the lock with it, so the task's redelivery finds the
    pack `building` with nobody holding it and builds it again from the start.

    session_lock=False is web's build in the request (hosting/api_evidence.py) of the pack it has
    just created and never queued: no other builder can exist, and web may sit behind PgBouncer in
    transaction pooling mode, where a session lock would be taken on one server connection and
    released on another (left held there), the build's transactions spread over several."""
    if not session_lock:
        return _build(pack_id, now)
    lock_key = _pack_lock_key(pack_id)
    if not advisory_try_lock(lock_key, REBUILD_LOCK_WAIT_SEC):
        return EvidencePack.objects.select_related("site", "tenant", "requested_by").get(pk=pack_id)
    try:
        return _build(pack_id, now)
    finally:
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", [lock_key])
        except DatabaseError:
            connection.close()


def _build(pack_id: int, now: dt.datetime | None) -> EvidencePack:
    before = EvidencePack.objects.filter(pk=pack_id).values_list("status", flat=True).first()
    claimed = EvidencePack.objects.filter(
        pk=pack_id, status__in=[EvidencePackStatus.QUEUED, EvidencePackStatus.BUILDING]
    ).update(status=EvidencePackStatus.BUILDING, started_at=timezone.now(), progress=1, step="starting")
    pack = EvidencePack.objects.select_related("site", "tenant", "requested_by").get(pk=pack_id)
    if not claimed:
        return pack
    if before == EvidencePackStatus.BUILDING:
        logger.warning("evidence_pack.rebuild", pack=pack.pk, reason="previous builder died")
    actor = Actor.system("hosting.evidence_pack")
    try:
        # The pack's data may be read from the replica (core/replica.py); its own row, claimed and
        # saved above and below, stays on the primary.
        with replica_reads():
            path, digest, size = build_pack_zip(build_context(pack, progress=_progress(pack.pk), now=now))
    except Exception as exc:
        logger.exception("evidence_pack.failed", pack=pack.pk)
        return _failed(pack, actor, str(exc), type(exc).__name__)
    stored = None
    try:
        with open(path, "rb") as f, transaction.atomic():
            stored = pack.file.storage.save(pack.file.field.generate_filename(pack, pack.filename), File(f))
            pack.file.name = stored
            pack.sha256, pack.size, pack.status = digest, size, EvidencePackStatus.READY
            pack.progress, pack.step, pack.finished_at = 100, "ready", timezone.now()
            pack.save(update_fields=["file", "sha256", "size", "status", "progress", "step", "finished_at"])
            _event(pack, "built", actor, sha256=digest, bytes=size)
    except OSError as exc:
        # Storage full or unwritable: nothing half-written stays behind, and the pack says why.
        logger.exception("evidence_pack.storage_failed", pack=pack.pk)
        _remove_partial(pack, stored)
        pack.refresh_from_db()
        error = _storage_error(exc)
        return _failed(pack, actor, error, error.split(":", 1)[0])
    finally:
        path.unlink(missing_ok=True)
    return pack


def _storage_error(exc: OSError) -> str:
    """The pack's error (EvidencePack.error_code / error_message read it back)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"{STORAGE_FULL}: the pack storage is full, so the pack was not stored and nothing of it was kept; "
            f"request it again once the operators have freed space ({exc.strerror or exc})"
        )
    return f"{STORAGE_ERROR}: the pack storage refused the file, nothing of it was kept ({exc.strerror or exc})"


def _remove_partial(pack: EvidencePack, stored: str | None) -> None:
    storage = pack.file.storage
    for name in {stored, pack.file.field.generate_filename(pack, pack.filename)} - {None}:
        try:
            if storage.exists(name):
                storage.delete(name)
        except OSError:
            logger.warning("evidence_pack.partial_not_removed", pack=pack.pk, name=name)


def _failed(pack: EvidencePack, actor: Actor, error: str, error_type: str) -> EvidencePack:
    with transaction.atomic():
        pack.status, pack.error, pack.finished_at = EvidencePackStatus.FAILED, error[:2000], timezone.now()
        pack.file.name = ""
        pack.step = "failed"
        pack.save(update_fields=["status", "error", "finished_at", "step", "file"])
        _event(pack, "failed", actor, error=error_type)
    return pack


FILE_MISSING_ERROR = (
    f"{PACK_FILE_MISSING}: the pack's file is no longer in the pack storage, so it cannot be downloaded; "
    "request a new pack of the same period"
)


def evidence_pack_file_missing(*, actor: Actor, pack: EvidencePack) -> EvidencePack:
    """A ready pack whose file the storage no longer has: failed with PACK_FILE_MISSING, once.

    Two downloads of the same pack find the file gone at the same time: the conditional UPDATE
    (`ready` → `failed`) is the one transition — the second waits on the first's row lock, then
    matches nothing — so exactly one of them audits it and counts it. Returns the pack as it is now."""
    name = pack.file.name
    with transaction.atomic():
        changed = EvidencePack.objects.filter(pk=pack.pk, status=EvidencePackStatus.READY).update(
            status=EvidencePackStatus.FAILED, error=FILE_MISSING_ERROR, step="failed", file=""
        )
        pack = EvidencePack.objects.select_related("site", "tenant", "requested_by").get(pk=pack.pk)
        if changed:
            _event(pack, "failed", actor, error=PACK_FILE_MISSING, file=name, sha256=pack.sha256)
    if changed:  # committed: the download's request runs outside any transaction (no ATOMIC_REQUESTS)
        metrics.evidence_pack_files_missing_total.inc()
    logger.warning("evidence_pack.file_missing", pack=pack.pk, file=name, marked_failed=bool(changed))
    return pack
