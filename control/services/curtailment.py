"""Curtailments (SPEC §6.3): create, approve, start, end, cancel, and the tick that starts and
ends them on time.

Approval is on the record, not on its commands: a curtailment is approved by a person other
than its requester (APPROVE at the site; SELF_APPROVAL otherwise), and only an approved one
ever starts. Its commands are created by the system at start and are proposed like any other
high-risk batch; they are then approved together, in the same transaction, with the record's
approver as `approved_by` (control.services.decisions.commands_approve_given). So SPEC §6 rule 9
holds for every one of them: requester ≠ approver, and none reaches a collector unapproved. The
guardrails (rate limit, blast radius) apply as to any batch: a plan over the site's blast-radius
cap is refused at creation, and a start or end they refuse is retried by the next tick.

Overlaps: two curtailments of one site may not overlap in time while scheduled or active (their
picks would share miners, and the first to end would re-enable what the second still sheds);
checked under a per-site advisory lock, so two concurrent creations cannot both pass.

Every write is audited in the site's chain (`control.curtailment.<verb>`); the commands' own
events go to their tenants' chains as always."""

import datetime as dt
import hashlib

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.services import Actor, EventSpec, audit_record_many
from control.errors import CurtailmentInvalid, InvalidTransition, SelfApproval
from control.models import (
    CURTAILMENT_TRANSITIONS,
    Command,
    CommandAttempt,
    CommandType,
    Curtailment,
    CurtailmentState,
    PriorityClass,
)
from control.services import creation, decisions
from control.services.curtailment_power import baseline_kw, current_kw, pick, scope_miners
from control.services.guardrails import blast_radius_cap
from control.services.params import PENDING_STATES, S, reason_required, require_capability
from control.services.transitions import command_transition_many
from core.errors import DomainError, Forbidden
from tenants.models import Miner, MinerGroup, Site, Zone
from tenants.scoping import Capability, can

C = CurtailmentState
SYSTEM = Actor.system("curtailment")
START_GRACE = dt.timedelta(minutes=1)  # a start this far in the past is still "now"


def _event(c: Curtailment, verb: str, **extra) -> EventSpec:
    payload = {
        "state": c.state,
        "start_at": c.start_at,
        "end_at": c.end_at,
        "target_kw": c.target_kw,
        "reason": c.reason,
        **extra,
    }
    return EventSpec(f"control.curtailment.{verb}", "control.curtailment", str(c.pk), payload, None, c.site.code)


def _audit(actor: Actor, c: Curtailment, verb: str, **extra) -> None:
    audit_record_many(actor=actor, events=[_event(c, verb, **extra)])


def _move(c: Curtailment, to: str) -> None:
    if to not in CURTAILMENT_TRANSITIONS[c.state]:
        raise InvalidTransition(f"curtailment {c.pk} is {c.state}; it cannot become {to}", state=c.state)
    c.state = to


def _lock(pk: int, *, skip_locked: bool = False) -> Curtailment | None:
    return (
        Curtailment.objects.select_for_update(of=("self",), skip_locked=skip_locked)
        .select_related("site")
        .filter(pk=pk)
        .first()
    )


# --- create, approve, cancel (people) -------------------------------------------------------------


def _validate(c: Curtailment, *, now: dt.datetime) -> None:
    if not isinstance(c.reason, str) or not c.reason.strip():
        raise CurtailmentInvalid("reason", "a reason is required (the order's reference)")
    c.reason = c.reason.strip()
    if isinstance(c.target_kw, bool) or not isinstance(c.target_kw, int | float) or not c.target_kw > 0:
        raise CurtailmentInvalid("target_kw", "a number of kW greater than 0 is required")
    for name in ("start_at", "end_at"):
        value = getattr(c, name)
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise CurtailmentInvalid(name, "a date-time with a time zone is required")
    if c.start_at < now - START_GRACE:
        raise CurtailmentInvalid("start_at", "must not be in the past (more than a minute ago)")
    if c.end_at <= c.start_at:
        raise CurtailmentInvalid("end_at", "must be after start_at")
    if c.zone_id and not Zone.objects.filter(pk=c.zone_id, site_id=c.site_id).exists():
        raise CurtailmentInvalid("zone", "not a zone of the curtailment's site")
    if c.group_id and not MinerGroup.objects.filter(pk=c.group_id, site_id=c.site_id).exists():
        raise CurtailmentInvalid("group", "not a group of the curtailment's site")
    listed = set(c.miners)
    if listed and Miner.objects.filter(pk__in=listed, site_id=c.site_id).count() != len(listed):
        raise CurtailmentInvalid("miners", "every miner must be a miner of the curtailment's site")
    if not scope_miners(c).exists():
        raise CurtailmentInvalid("miners", "the scope has no miners")


def _site_lock(site: Site) -> None:
    digest = hashlib.blake2b(f"control:curtailment:{site.pk}".encode(), digest_size=8).digest()
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])


def _refuse_overlap(c: Curtailment) -> None:
    other = (
        Curtailment.objects.filter(
            site_id=c.site_id, state__in=[C.SCHEDULED, C.ACTIVE], start_at__lt=c.end_at, end_at__gt=c.start_at
        )
        .order_by("start_at")
        .first()
    )
    if other is not None:
        raise CurtailmentInvalid(
            "start_at", f"overlaps curtailment #{other.pk} ({other.start_at:%Y-%m-%dT%H:%MZ}–{other.end_at:%H:%MZ})"
        )


def _refuse_over_cap(c: Curtailment, chosen: int) -> None:
    total = Miner.objects.filter(site_id=c.site_id).count()
    cap = blast_radius_cap(total)
    if chosen > cap:
        raise CurtailmentInvalid(
            "target_kw",
            f"needs {chosen} of the site's {total} miners disabled; the blast-radius cap is {cap} "
            f"(COMMAND_BLAST_RADIUS_PCT={settings.COMMAND_BLAST_RADIUS_PCT:g})",
        )


@transaction.atomic
def curtailment_create(
    *,
    actor: Actor,
    user,
    site: Site,
    start_at: dt.datetime,
    end_at: dt.datetime,
    reason: str,
    target_kw: float,
    zone: Zone | None = None,
    group: MinerGroup | None = None,
    miners: list[Miner] | None = None,
) -> Curtailment:
    """A scheduled curtailment awaiting approval, with its planned pick (re-made at the start).
    CURTAILMENT_INVALID naming the field for bad input, a plan over the blast-radius cap or an
    overlap with another curtailment of the site; FORBIDDEN without OPERATE at the site."""
    if user is not None and not can(user, Capability.OPERATE, site):
        raise Forbidden("not allowed at this site")
    now = timezone.now()
    c = Curtailment(
        site=site,
        zone=zone,
        group=group,
        miners=list(dict.fromkeys(m.pk for m in miners or [])),
        start_at=start_at,
        end_at=end_at,
        reason=reason,
        target_kw=target_kw,
        state=C.SCHEDULED,
        created_by=user,
        created_at=now,
        updated_at=now,
    )
    _validate(c, now=now)
    _require(user, Capability.OPERATE, c)
    plan = pick(c, now=now)
    _refuse_over_cap(c, len(plan.chosen))
    _site_lock(site)  # held to commit: two creations racing cannot both miss each other's overlap
    _refuse_overlap(c)
    c.chosen, c.not_chosen, c.expected_kw, c.chosen_at = plan.chosen, plan.not_chosen, plan.expected_kw, now
    c.save()
    _audit(actor, c, "created", planned_miners=len(plan.chosen), expected_kw=plan.expected_kw, scope=_scope(c))
    return c


def _require(user, capability: str, c: Curtailment) -> None:
    """The capability on every miner of the scope: a zone's NOC may curtail their zone, not the site."""
    if user is not None and not can(user, capability, c.site):
        raise Forbidden(f"not allowed to {capability} at this site")
    require_capability(user, capability, list(scope_miners(c)))


def _scope(c: Curtailment) -> dict:
    return {"zone": c.zone_id, "group": c.group_id, "miners": c.miners}


@transaction.atomic
def curtailment_approve(*, actor: Actor, user, curtailment: Curtailment, reason: str) -> Curtailment:
    """The second person's yes: APPROVE at the site, not the requester (SELF_APPROVAL)."""
    reason = reason_required(reason, "approve")
    c = _lock(curtailment.pk)
    assert c is not None
    if user is None:
        raise Forbidden("approval needs a person")
    _require(user, Capability.APPROVE, c)
    if c.state != C.SCHEDULED or c.approved_at is not None:
        raise InvalidTransition(f"curtailment {c.pk} is {c.state} and already decided", state=c.state)
    if c.created_by_id == user.pk:
        raise SelfApproval("the requester cannot approve their own curtailment")
    if c.end_at <= timezone.now():
        raise InvalidTransition(f"curtailment {c.pk} ended before it was approved", state=c.state)
    c.approved_by, c.approved_at, c.approval_reason = user, timezone.now(), reason
    c.updated_at = c.approved_at
    c.save(update_fields=["approved_by", "approved_at", "approval_reason", "updated_at"])
    _audit(actor, c, "approved", approved_by=user.pk, approval_reason=reason)
    return c


@transaction.atomic
def curtailment_cancel(*, actor: Actor, user, curtailment: Curtailment, reason: str) -> Curtailment:
    """Scheduled: it never starts. Active: its pending disables are canceled and every miner that
    was disabled gets its enable_hashing now, as at the end."""
    reason = reason_required(reason, "cancel")
    c = _lock(curtailment.pk)
    assert c is not None
    _require(user, Capability.OPERATE, c)
    return _finish(c, to=C.CANCELED, actor=actor, reason=reason, now=timezone.now())


# --- start and end (the tick) ---------------------------------------------------------------------


def _ttl_until(end_at: dt.datetime, now: dt.datetime) -> int:
    """A disable that is still queued at the end must not go out after it: it expires by end_at."""
    return max(10, min(settings.COMMAND_MAX_TTL_SEC, int((end_at - now).total_seconds())))


def _batch(c: Curtailment, *, kind: str, miner_ids: list[int], ttl: int, batch_id=None) -> creation.CreateResult:
    """One batch of Compliance/DR commands for the curtailment, approved with the record's approval."""
    miners = list(Miner.objects.select_related("site", "zone").filter(pk__in=miner_ids).order_by("pk"))
    result = creation.command_batch_create(
        actor=SYSTEM,
        user=None,  # scope was checked on the record; the system acts for it
        miners=miners,
        command_type=kind,
        priority_class=PriorityClass.COMPLIANCE,
        reason=f"curtailment #{c.pk}: {c.reason}",
        ttl_sec=ttl,
        dedupe_key=f"curtailment:{c.pk}:{kind}",
        evidence={"curtailment": c.pk, "requested_by": c.created_by_id, "approved_by": c.approved_by_id},
        created_by_system="curtailment",
        batch_id=batch_id,
    )
    decisions.commands_approve_given(
        actor=SYSTEM, commands=result.created, approver=c.approved_by, reason=f"curtailment #{c.pk} approved"
    )
    return result


def curtailment_start(*, pk: int, now: dt.datetime | None = None) -> Curtailment | None:
    """Start one due curtailment: pick the miners, disable them (one batch). None when it is not
    due, not approved, or another worker holds it (two ticks at once act once: the row is claimed
    with SKIP LOCKED and its state re-read under the lock). A guardrail refusal is recorded on the
    record (audited once per new error) and the next tick tries again."""
    now = now or timezone.now()
    with transaction.atomic():
        c = _lock(pk, skip_locked=True)
        if c is None or c.state != C.SCHEDULED or c.approved_at is None or c.start_at > now or c.end_at <= now:
            return None
        plan = pick(c, now=now)
        c.chosen, c.not_chosen, c.expected_kw, c.chosen_at = plan.chosen, plan.not_chosen, plan.expected_kw, now
        result = None
        if plan.chosen:
            try:
                with transaction.atomic():  # a refusal undoes the batch, not the error record
                    result = _batch(
                        c,
                        kind=CommandType.DISABLE_HASHING,
                        miner_ids=[r["miner"] for r in plan.chosen],
                        ttl=_ttl_until(c.end_at, now),
                    )
            except DomainError as exc:
                return _start_failed(c, exc, now)
        if result is not None and result.skipped:
            locked = {s.miner.pk for s in result.skipped}
            c.chosen = [r for r in c.chosen if r["miner"] not in locked]
            c.not_chosen["locked by a leased command"] = len(locked)
        _move(c, C.ACTIVE)
        c.started_at = c.updated_at = now
        c.disable_batch_id = result.batch_id if result is not None else None
        c.last_error = "" if plan.chosen else "no miner in scope is online and hashing"
        c.baseline_kw = baseline_kw(c)
        c.save()
        _audit(
            SYSTEM,
            c,
            "started",
            disable_batch_id=str(c.disable_batch_id) if c.disable_batch_id else None,
            miners=[r["miner"] for r in c.chosen],
            expected_kw=c.expected_kw,
            baseline_kw=c.baseline_kw,
            not_chosen=c.not_chosen,
        )
    return c


def _start_failed(c: Curtailment, exc: DomainError, now: dt.datetime) -> Curtailment:
    message = f"{exc.error_code}: {exc.message}"
    if message != c.last_error:
        c.last_error, c.updated_at = message, now
        c.save(update_fields=["last_error", "updated_at", "chosen", "not_chosen", "expected_kw", "chosen_at"])
        _audit(SYSTEM, c, "start_failed", error_code=exc.error_code, error=exc.message)
    return c


def curtailment_end(*, pk: int, now: dt.datetime | None = None) -> Curtailment | None:
    """End one active curtailment whose end_at has passed (None when not due or held elsewhere)."""
    now = now or timezone.now()
    with transaction.atomic():
        c = _lock(pk, skip_locked=True)
        if c is None or c.state != C.ACTIVE or c.end_at > now:
            return None
        return _finish(c, to=C.ENDED, actor=SYSTEM, reason="end_at reached", now=now)


def _finish(c: Curtailment, *, to: str, actor: Actor, reason: str, now: dt.datetime) -> Curtailment:
    """End or cancel a locked curtailment: cancel the disables not yet handed out (and a handed-out
    one not yet running: the edge may still execute it, hence its enable), store the kW shed, then
    enable_hashing for every miner whose disable went out to a collector."""
    was_active = c.state == C.ACTIVE
    _move(c, to)
    to_enable: list[int] = []
    if was_active and c.disable_batch_id:
        disables = list(
            Command.objects.select_for_update(of=("self",))
            .select_related("site")
            .filter(batch_id=c.disable_batch_id)
            .order_by("pk")  # the creation path locks commands in pk order too
        )
        leased = {d.pk for d in disables if d.state == S.DISPATCHED}
        command_transition_many(
            [d for d in disables if d.state in PENDING_STATES or d.pk in leased],
            to=S.CANCELED,
            actor=actor,
            reason=f"curtailment #{c.pk} {to}",
            audit_details=lambda d: {"curtailment": c.pk, "edge_may_still_execute": d.pk in leased},
        )
        CommandAttempt.objects.filter(command__in=leased, lease_ended_at__isnull=True).update(
            lease_ended_at=now, lease_end_reason="canceled"
        )
        sent = set(CommandAttempt.objects.filter(command__in=disables).values_list("command__miner_id", flat=True))
        to_enable = sorted(sent)
        current, _ = current_kw(c, now=now)  # before the enables: the miners are still off
        c.shed_kw = round((c.baseline_kw or 0.0) - current, 3)
        c.measured_at = now
    c.ended_at = c.updated_at = now
    c.end_reason = reason
    c.enable_pending = to_enable
    c.save()
    _audit(
        actor,
        c,
        to,
        end_reason=reason,
        baseline_kw=c.baseline_kw,
        shed_kw=c.shed_kw,
        to_enable=to_enable,
    )
    if to_enable:
        _enable(c, now=now)
    return c


def _enable(c: Curtailment, *, now: dt.datetime) -> None:
    """enable_hashing for the miners still owed one; those a leased command holds (or a guardrail
    refuses) stay in enable_pending for the next tick."""
    pending = list(c.enable_pending)
    try:
        with transaction.atomic():
            result = _batch(
                c,
                kind=CommandType.ENABLE_HASHING,
                miner_ids=pending,
                ttl=settings.CURTAILMENT_ENABLE_TTL_SEC,
                batch_id=c.enable_batch_id,
            )
    except DomainError as exc:
        message = f"{exc.error_code}: {exc.message}"
        if message != c.last_error:
            c.last_error, c.updated_at = message, now
            c.save(update_fields=["last_error", "updated_at"])
            _audit(SYSTEM, c, "enable_failed", error_code=exc.error_code, error=exc.message, miners=pending)
        return
    c.enable_batch_id = result.batch_id
    c.enable_pending = sorted(s.miner.pk for s in result.skipped)
    c.last_error = f"{len(c.enable_pending)} miner(s) wait for their enable_hashing" if c.enable_pending else ""
    c.updated_at = now
    c.save(update_fields=["enable_batch_id", "enable_pending", "last_error", "updated_at"])
    _audit(
        SYSTEM,
        c,
        "enables_created",
        enable_batch_id=str(result.batch_id),
        created=[x.miner_id for x in result.created],
        still_pending=c.enable_pending,
    )


def curtailment_enable_retry(*, pk: int, now: dt.datetime | None = None) -> Curtailment | None:
    now = now or timezone.now()
    with transaction.atomic():
        c = _lock(pk, skip_locked=True)
        if c is None or c.state not in (C.ENDED, C.CANCELED) or not c.enable_pending:
            return None
        _enable(c, now=now)
    return c


def curtailments_tick(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Start the due, end the expired, drop the never-approved, retry owed enables. Safe to run
    twice at once: each curtailment is claimed under its row lock (SKIP LOCKED) and its state
    re-read there, so a second run acts on none of them again."""
    now = now or timezone.now()
    counts = {"started": 0, "ended": 0, "expired": 0, "enables_retried": 0}
    scheduled = Curtailment.objects.filter(state=C.SCHEDULED, start_at__lte=now)
    for pk in (
        scheduled.filter(end_at__gt=now, approved_at__isnull=False)
        .order_by("start_at", "pk")
        .values_list("pk", flat=True)
    ):
        started = curtailment_start(pk=pk, now=now)
        counts["started"] += started is not None and started.state == C.ACTIVE
    for pk in Curtailment.objects.filter(state=C.ACTIVE, end_at__lte=now).order_by("pk").values_list("pk", flat=True):
        counts["ended"] += curtailment_end(pk=pk, now=now) is not None
    for pk in scheduled.filter(end_at__lte=now).order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            c = _lock(pk, skip_locked=True)
            if c is not None and c.state == C.SCHEDULED and c.end_at <= now:
                why = "not approved before its end" if c.approved_at is None else "its end passed before it started"
                _finish(c, to=C.CANCELED, actor=SYSTEM, reason=why, now=now)
                counts["expired"] += 1
    owed = Curtailment.objects.filter(state__in=[C.ENDED, C.CANCELED]).exclude(enable_pending=[])
    for pk in owed.order_by("pk").values_list("pk", flat=True):
        counts["enables_retried"] += curtailment_enable_retry(pk=pk, now=now) is not None
    return counts
