"""The NOC's live command board (admin): per site the commands by state, the oldest ready one,
stuck leases, failures and unknown ACKs of the last hour; proposals waiting for an approver with
their age; the top error codes. The page refreshes itself from its JSON twin every 10 s."""

from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.template.response import TemplateResponse

from control.selectors_board import command_board
from core.errors import DomainError
from tenants import scoping

REFRESH_SEC = 10


def board_view(model_admin, request):
    if not scoping.scope_for(request.user).is_operator:
        raise PermissionDenied
    site = (request.GET.get("site") or "").strip()
    try:
        data = command_board(request.user, site_code=site)
    except DomainError as exc:  # a site out of scope or unknown: the same 403 as everywhere
        if request.GET.get("format") == "json":
            return JsonResponse({"error_code": exc.error_code, "error": exc.message}, status=exc.status_code)
        raise PermissionDenied from exc
    if request.GET.get("format") == "json":
        return JsonResponse(data)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Command board",
        "opts": model_admin.model._meta,
        "board": data,
        "site_codes": list(scoping.sites_for(request.user).order_by("code").values_list("code", flat=True)),
        "refresh_sec": REFRESH_SEC,
    }
    return TemplateResponse(request, "admin/control/command/board.html", context)
