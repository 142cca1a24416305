"""The portal's "Evidence packs" page (docs/EVIDENCE_PACK.md): request a pack of one site and
period, watch its progress, download it when ready. A customer requests packs of their own tenant;
an operator looking in sees the tenant's packs read-only (operators request through the API)."""

import datetime as dt

from django import forms
from django.conf import settings
from django.db import transaction
from django.shortcuts import redirect

from audit.services import Actor
from core.errors import DomainError, Forbidden
from hosting.models import EvidencePackStatus
from hosting.selectors.evidence import evidence_packs_for, evidence_period_check, evidence_scope_get
from hosting.services.evidence import evidence_pack_build, evidence_pack_request
from portal.views import portal_page
from tenants.scoping import FORBIDDEN_MESSAGE

REFRESH_SEC = 3
LISTED = 50


class PackForm(forms.Form):
    site = forms.ChoiceField()
    date_from = forms.DateField(label="From (UTC day)")
    date_to = forms.DateField(label="To (UTC day, included)")

    def __init__(self, *args, sites=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = [(code, f"{code} — {name}") for code, name in sites]

    def period(self) -> tuple[dt.datetime, dt.datetime]:
        start = dt.datetime.combine(self.cleaned_data["date_from"], dt.time(), tzinfo=dt.UTC)
        end = dt.datetime.combine(self.cleaned_data["date_to"], dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1)
        return start, end


def _request(request, pv, form: PackForm) -> str:
    """Request (and for a short period build) the pack; returns an error to show, or ''."""
    start, end = form.period()
    try:
        evidence_period_check(start, end)
        site, tenant = evidence_scope_get(
            request.user, site_code=form.cleaned_data["site"], tenant_slug=pv.tenant.slug, start=start, end=end
        )
    except Forbidden:
        raise  # the 403 page, like any tenant or site not theirs
    except DomainError as exc:
        return exc.message
    pack = evidence_pack_request(
        actor=Actor.user(request.user), user=request.user, site=site, tenant=tenant, start=start, end=end
    )
    if end - start <= dt.timedelta(hours=settings.EVIDENCE_PACK_SYNC_MAX_HOURS):
        # The request's own pack, never queued: no worker session lock (web may be behind PgBouncer).
        built = evidence_pack_build(pack_id=pack.pk, session_lock=False)
        if built.status == EvidencePackStatus.FAILED:  # e.g. STORAGE_FULL: said at once, and in the list
            return f"Pack #{built.pk} failed: {built.error_message}"
    else:
        from hosting.tasks import evidence_pack_build_task

        transaction.on_commit(lambda: evidence_pack_build_task.delay(pack.pk))
    return ""


def _again(pack) -> dict | None:
    """The form's fields that request a failed pack's period again: whole UTC days only (what the form
    can say); a pack of other hours was requested through the API, and is requested again there."""
    start, end = pack.period_start.astimezone(dt.UTC), pack.period_end.astimezone(dt.UTC)
    if start.time() != dt.time() or end.time() != dt.time():
        return None
    last = (end - dt.timedelta(days=1)).date()
    return {"site": pack.site.code, "date_from": start.date().isoformat(), "date_to": last.isoformat()}


@portal_page("evidence", methods=("GET", "POST"))
def evidence(request, pv):
    sites = list(pv.miners(request.user).order_by("site__code").values_list("site__code", "site__name").distinct())
    error = ""
    if request.method == "POST":
        if pv.as_operator:
            raise Forbidden(FORBIDDEN_MESSAGE)  # an operator's view of a tenant is read-only
        form = PackForm(request.POST, sites=sites)
        if form.is_valid():
            error = _request(request, pv, form)
            if not error:
                return redirect("portal:evidence", tenant=pv.tenant.slug)
        else:
            error = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
    else:
        today = dt.datetime.now(dt.UTC).date()
        form = PackForm(sites=sites, initial={"date_from": today.replace(day=1), "date_to": today})
    packs = list(evidence_packs_for(request.user).filter(tenant=pv.tenant)[:LISTED])
    busy = any(p.status in (EvidencePackStatus.QUEUED, EvidencePackStatus.BUILDING) for p in packs)
    can_request = not pv.as_operator and bool(sites)
    for p in packs:
        p.again = _again(p) if can_request and p.status == EvidencePackStatus.FAILED else None
    return {
        "form": form,
        "error": error,
        "packs": packs,
        "refresh_sec": REFRESH_SEC if busy else 0,
        "max_days": settings.EVIDENCE_PACK_MAX_DAYS,
        "can_request": can_request,
    }
