"""The portal's Downtime page (/portal/t/<slug>/downtime/): a period, availability per site with
every number explained, a swimlane timeline and the intervals, of one tenant (owner at the time)."""

from django.core.paginator import Paginator
from django.urls import reverse

from hosting.selectors.downtime import CAUSES
from portal import downtime
from portal.views import PER_PAGE, portal_page


@portal_page("downtime")
def downtime_page(request, pv):
    period, error = downtime.period_parse(request.GET)
    overview = downtime.downtime_overview(request.user, pv, period)
    page = Paginator(downtime.tenant_intervals(request.user, pv, period), PER_PAGE).get_page(request.GET.get("page"))
    paging = request.GET.copy()
    paging.pop("page", None)
    mine = set(pv.miners(request.user).values_list("pk", flat=True))
    return {
        "period": period,
        "period_error": error,
        "months": downtime.month_choices(),
        "totals": overview["totals"],
        "sites": overview["sites"],
        "lanes": downtime.timeline(request.user, pv, period, overview["per_miner"]),
        "page": page,
        "rows": downtime.interval_rows(page.object_list, period),
        "mine": mine,  # miners the tenant owns now: their rows link to the miner page
        "causes": [(c, downtime.CAUSE_LABELS[c]) for c in CAUSES],
        "paging_query": paging.urlencode(),
        "definitions_url": reverse("portal:downtime", kwargs={"tenant": pv.tenant.slug}) + "#definitions",
    }
