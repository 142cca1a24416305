"""The portal's Reports page (SPEC §10): a month and a site, the SLA report's summary with its
charts, and the CSV / PDF / JSON downloads (the v1 API, which checks the same scope again)."""

import datetime as dt
import re
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from core.errors import Forbidden
from hosting.reports.chart import availability_svg, causes_svg
from hosting.reports.definitions_html import markdown_html
from hosting.reports.sla import month_start, next_month, previous_month, sla_report
from portal.views import portal_page
from tenants.scoping import FORBIDDEN_MESSAGE

MONTH = re.compile(r"(\d{4})-(\d{2})")
MONTHS_BACK = 12


def _month_choices(now: dt.datetime) -> list[dt.datetime]:
    """This month first, then the twelve before it."""
    first = month_start(now)
    out = [first]
    for _ in range(MONTHS_BACK):
        out.append(previous_month(out[-1]))
    return out


def _picked_month(value: str, choices: list[dt.datetime]) -> dt.datetime:
    """?month=YYYY-MM among the choices; anything else: the last full month."""
    match = MONTH.fullmatch(value or "")
    if match:
        year, month = int(match[1]), int(match[2])
        picked = next((c for c in choices if (c.year, c.month) == (year, month)), None)
        if picked is not None:
            return picked
    return choices[1]


@portal_page("reports")
def reports(request, pv):
    now = timezone.now()
    choices = _month_choices(now)
    start = _picked_month(request.GET.get("month", ""), choices)
    end = next_month(start)
    sites = list(pv.miners(request.user).order_by("site__code").values_list("site__code", "site__name").distinct())
    site_code = request.GET.get("site", "")
    site = None
    if site_code:  # one of this portal's sites, or the same 403 page as any other tenant's object
        mine = pv.miners(request.user).filter(site__code=site_code).select_related("site").first()
        if mine is None:
            raise Forbidden(FORBIDDEN_MESSAGE)
        site = mine.site
    report = sla_report(request.user, start=start, end=end, site=site, tenant=pv.tenant, now=now)
    query = {"tenant": pv.tenant.slug, "from": start.date().isoformat(), "to": end.date().isoformat()}
    if site is not None:
        query["site_id"] = site.code
    api = reverse("hosting-sla-report")
    return {
        "report": report,
        "s": report["summary"],
        "months": [{"value": f"{c:%Y-%m}", "label": f"{c:%B %Y}", "selected": c == start} for c in choices],
        "this_month": f"{choices[0]:%Y-%m}",
        "last_month": f"{choices[1]:%Y-%m}",
        "month_value": f"{start:%Y-%m}",
        "running": end > now,
        "sites": sites,
        "site_code": site.code if site else "",
        "availability_chart": availability_svg(report["days"]),
        "causes_chart": causes_svg(report["causes"]),
        "definitions_html": markdown_html(report["definitions"]["text"], skip_title=True),
        "downloads": {fmt: f"{api}?{urlencode({**query, 'format': fmt})}" for fmt in ("pdf", "csv", "json")},
    }
