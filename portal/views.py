"""Where a person lands after login: operators go to the NOC console, customers see their fleet
at a glance (the full portal of SPEC §10 grows from here)."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import redirect, render

from tenants import scoping


@login_required
def home(request):
    scope = scoping.scope_for(request.user)
    if scope.is_operator:
        return redirect("admin:index")
    miners = scoping.miners_for(request.user)
    per_site = miners.values("site__code", "site__name").annotate(n=Count("id")).order_by("site__code")
    return render(
        request,
        "portal/home.html",
        {
            "tenants": scoping.tenants_for(request.user).order_by("name"),
            "per_site": per_site,
            "total": sum(r["n"] for r in per_site),
        },
    )
