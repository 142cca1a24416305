"""GET /api/v1/portal/my-reports in the original's shape: its three reports (sla_summary,
shadow_bill, audit_summary), each {report_type, name, description, available, download_url} as the
original listed them, plus what this product has of each — the period and its summary (the SLA
report's figures; the counts of the tenant's audit chain) — so a client need not follow the link.
Figures of the last full month (UTC), the period the portal's Reports page opens on."""

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, Min
from django.urls import reverse
from redis.exceptions import RedisError

from audit.models import AuditEvent
from audit.services import chain_key_for
from hosting.api_reports import report_links
from hosting.reports.sla import REPORT_VERSION, month_start, previous_month, sla_report
from portal import selectors
from tenants import scoping

NOT_METERED = "not carried: this product meters no energy and keeps no prices (docs/COMPATIBILITY.md)"


def _audit_summary(tenant, start, end) -> dict:
    """The tenant's own chain (the events about its miners, commands, consent, grants) in [start, end)."""
    events = AuditEvent.objects.filter(
        chain_key=chain_key_for(tenant_id=tenant.pk), occurred_at__gte=start, occurred_at__lt=end
    )
    by_action = dict(events.values_list("action").annotate(n=Count("id")).order_by("action"))
    span = events.aggregate(first=Min("seq"), last=Max("seq"))
    return {
        "events": sum(by_action.values()),
        "by_action": by_action,
        "first_seq": span["first"],
        "last_seq": span["last"],
    }


def _sla_summary(user, tenant, start, end, now) -> dict:
    """The SLA report's summary of a closed month, kept PORTAL_MY_REPORTS_CACHE_SEC: building it
    reads the month's 15m tier of every miner (seconds at 5,000 miners, docs/REPORTS.md "Cost"), and a
    closed month changes only when late data re-judges its last hours. Cached per tenant for its
    whole-tenant customers (they all see the same miners) and per person otherwise (a customer
    limited to miner groups sees fewer)."""
    ttl = settings.PORTAL_MY_REPORTS_CACHE_SEC
    if ttl <= 0:
        return sla_report(user, start=start, end=end, tenant=tenant, now=now)["summary"]
    who = "tenant" if tenant.pk in scoping.scope_for(user).customer_tenant_ids else f"user{user.pk}"
    key = f"portal:my-reports:sla:{REPORT_VERSION}:{tenant.pk}:{who}:{start:%Y-%m-%d}:{end:%Y-%m-%d}"
    try:
        summary = cache.get(key)
    except RedisError:  # a cache outage costs time, not the answer
        summary = None
    if summary is None:
        summary = sla_report(user, start=start, end=end, tenant=tenant, now=now)["summary"]
        try:
            cache.set(key, summary, timeout=ttl)
        except RedisError:
            pass
    return summary


def my_reports_body(request, tenant, *, now) -> dict:
    user = request.user
    view = selectors.portal_view_get(user, tenant.slug)
    figures = selectors.dashboard_figures(user, view.miners(user))
    end = month_start(now)
    start = previous_month(end)
    period = {"from": start.date().isoformat(), "to": end.date().isoformat()}
    links = report_links(request, {"tenant": tenant.slug}, period["from"], period["to"])
    sla_summary = _sla_summary(user, tenant, start, end, now)
    reports_url = reverse("portal:reports", args=[tenant.slug])
    evidence_url = reverse("portal:evidence", args=[tenant.slug])
    sites = [
        {
            "site_id": s["code"],
            "site_name": s["name"],
            "miners": s["miners"],
            "report_url": f"{reports_url}?site={s['code']}",
            "evidence_url": f"{evidence_url}?site={s['code']}",
        }
        for s in figures["sites"]
    ]
    reports = [
        {
            "report_type": "sla_summary",
            "name": "SLA Summary Report",
            "description": "Monthly uptime and performance summary",
            "available": True,
            "download_url": links["json"],
            "period": period,
            "summary": sla_summary,
            "downloads": links,
            "sites": sites,
        },
        {
            "report_type": "shadow_bill",
            "name": "Shadow Bill",
            "description": "Estimated electricity costs breakdown",
            "available": False,
            "download_url": None,
            "period": period,
            "summary": None,
            "reason": NOT_METERED,
        },
        {
            "report_type": "audit_summary",
            "name": "Audit Summary",
            "description": "Actions and changes affecting your assets",
            "available": True,
            "download_url": request.build_absolute_uri(evidence_url),
            "period": period,
            "summary": _audit_summary(tenant, start, end),
        },
    ]
    return {"reports": reports, "total_assets": figures["totals"]["miners"], "customer_id": tenant.slug}
