"""The customer portal (SPEC §10): server-rendered, read-only, one tenant per URL.

Every page lives under /portal/t/<tenant slug>/ and goes through `portal_page`, which admits a
person only to a tenant portal_view_get allows: a customer their own, an operator any tenant they
see (read-only, with a banner). Anything else is the same 403 page, existing or not."""

import re
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from core.errors import Forbidden
from portal import downtime, selectors
from telemetry import selectors as telemetry
from tenants import scoping

PER_PAGE = 50
SLUG = re.compile(r"[-a-zA-Z0-9_]{1,64}")


def _forbidden(request):
    return render(request, "portal/forbidden.html", {"switch_tenants": _switch_list(request.user)}, status=403)


def _switch_list(user):
    return list(selectors.portal_tenants(user).values("slug", "name")[:200])


def portal_page(section: str, methods: tuple[str, ...] = ("GET",)):
    """Sign-in required, GET only (unless `methods` says more), and the tenant of the URL must be one
    the person may open."""

    def decorate(view):
        @login_required
        @require_http_methods(list(methods))
        @wraps(view)
        def wrapped(request, tenant: str, **kwargs):
            try:
                pv = selectors.portal_view_get(request.user, tenant)
                context = view(request, pv, **kwargs)
            except Forbidden:
                return _forbidden(request)
            if not isinstance(context, dict):
                return context
            switch = _switch_list(request.user)
            context.update(
                {"pv": pv, "tenant": pv.tenant, "section": section, "switch_tenants": switch if len(switch) > 1 else []}
            )
            return render(request, f"portal/{section}.html", context)

        return wrapped

    return decorate


@login_required
def home(request):
    """Where a person lands after login: operators go to the NOC console, customers to their portal."""
    if scoping.scope_for(request.user).is_operator:
        return redirect("admin:index")
    return portal_index(request)


@login_required
@require_GET
def portal_index(request):
    """/portal/: a customer's (first) tenant; an operator picks a tenant; nobody's → an empty page."""
    wanted = request.GET.get("tenant", "")
    if SLUG.fullmatch(wanted):  # the tenant switcher; the dashboard checks it like any URL
        return redirect("portal:dashboard", tenant=wanted)
    tenants = _switch_list(request.user)
    if tenants and not scoping.scope_for(request.user).is_operator:
        return redirect("portal:dashboard", tenant=tenants[0]["slug"])
    return render(request, "portal/index.html", {"switch_tenants": tenants, "choose": tenants})


@portal_page("dashboard")
def dashboard(request, pv):
    figures = selectors.dashboard_figures(request.user, pv.miners(request.user))
    series = selectors.tenant_hashrate_series(request.user, pv)
    chart = {
        "t": [p[0] for p in series],
        "series": [{"label": "Hashrate (TH/s)", "values": [p[1] for p in series]}],
        "nominal_ths": figures["totals"]["nominal_ths"],
    }
    states = {
        "labels": ["online", "offline", "unknown"],
        "values": [figures["totals"][s] for s in ("online", "offline", "unknown")],
    }
    month = downtime.availability_this_month(request.user, pv)
    return {**figures, "chart": chart, "states_chart": states, "month": month}


def _sort_links(request, current: str) -> dict[str, str]:
    """Each column's link: sort by it ascending, or descending when it already is."""
    links = {}
    params = request.GET.copy()
    params.pop("page", None)
    for key in selectors.MINER_SORTS:
        params["sort"] = f"-{key}" if current == key else key
        links[key] = params.urlencode()
    return links


@portal_page("miners")
def miners(request, pv):
    q = request.GET.get("q", "").strip()[:100]
    state = request.GET.get("state", "")
    sort = request.GET.get("sort", "miner")
    rows, counts = selectors.miner_list(request.user, pv.miners(request.user), q=q, state=state, sort=sort)
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    chips = request.GET.copy()
    chips.pop("page", None)
    chip_links = {}
    for s in ("", *telemetry.STATES):
        chips["state"] = s
        chip_links[s or "all"] = chips.urlencode()
    paging = request.GET.copy()
    paging.pop("page", None)
    return {
        "page": page,
        "q": q,
        "state": state if state in telemetry.STATES else "",
        "sort": sort,
        "sort_links": _sort_links(request, sort),
        "counts": counts,
        "chip_links": chip_links,
        "paging_query": paging.urlencode(),
        "stale_min": settings.TELEMETRY_STALE_SEC // 60,
    }


@portal_page("miner")
def miner(request, pv, site: str, miner_id: str):
    m = selectors.portal_miner_get(request.user, pv, site, miner_id)
    range_key = request.GET.get("range", "24h")
    if range_key not in selectors.MINER_RANGES:
        range_key = "24h"
    series = selectors.miner_series(request.user, m, range_key)
    chart = {
        "t": series["t"],
        "series": [
            {"label": "Hashrate (TH/s)", "values": series["hashrate_ths"]},
            {"label": "Temperature max (°C)", "values": series["temperature_max"], "axis": "right"},
        ],
        "nominal_ths": float(m.nominal_hashrate_ths or 0),
    }
    live = telemetry.miner_state(request.user, m)
    return {
        "miner": m,
        "live": live,
        "hashrate_ths": (live.get("hashrate_5s_ghs") or 0) / 1000.0,
        "uptime_h": (live.get("uptime_seconds") or 0) / 3600.0,
        "range": range_key,
        "ranges": list(selectors.MINER_RANGES),
        "tier": series["tier"],
        "chart": chart,
        "has_points": bool(series["t"]),
        "commands": list(selectors.miner_commands(request.user, pv, m)),
        "intervals": downtime.miner_intervals(request.user, pv, m),
        "miners_url": reverse("portal:miners", kwargs={"tenant": pv.tenant.slug}),
    }
