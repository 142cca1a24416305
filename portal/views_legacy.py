"""The original customer portal's pages, /hosting/client[/<subpath>] (SPEC §11, LEGACY_ROUTES.md
"Customer portal"): a 302 to the matching page of this portal for a signed-in person, so old
bookmarks and links keep working. Subpaths: dashboard → Dashboard, miners → Miners, usage and
reports → Reports, tickets → Work orders; anything else → Dashboard. The tenant is the person's
own (a customer's first, as /portal/ picks it); a person with several tenants to choose from
(an operator) lands on /portal/ to pick one, and the page is then their choice."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from portal import selectors
from tenants import scoping

SUBPATH_PAGES = {
    "dashboard": "portal:dashboard",
    "miners": "portal:miners",
    "usage": "portal:reports",
    "reports": "portal:reports",
    "tickets": "portal:work_orders",
}


@login_required
@require_GET
def client_page(request, subpath: str = "dashboard"):
    page = SUBPATH_PAGES.get(subpath.strip("/").split("/")[0], "portal:dashboard")
    tenants = list(selectors.portal_tenants(request.user).values_list("slug", flat=True)[:2])
    if not tenants or (len(tenants) > 1 and scoping.scope_for(request.user).is_operator):
        return redirect("portal:index")
    return redirect(page, tenant=tenants[0])
