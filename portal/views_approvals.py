"""The portal's "Approvals" page: commands on the tenant's miners waiting for the owner's approval
(customer consent, control.services.consent), each approved or denied with a reason. An operator
looking in sees the list read-only; the decision is the customer's."""

from django.contrib import messages
from django.shortcuts import redirect

from audit.services import Actor
from control.selectors import commands_for, owner_approvals_waiting, pending_owner_approvals
from control.services import consent
from core.errors import DomainError, Forbidden
from portal.views import portal_page
from tenants.scoping import FORBIDDEN_MESSAGE

LISTED = 200


def _decide(request, pv) -> None:
    decision = request.POST.get("decision", "")
    service = {"approve": consent.command_owner_approve, "deny": consent.command_owner_deny}.get(decision)
    command = pending_owner_approvals(request.user, [pv.tenant.pk]).filter(pk=request.POST.get("command") or 0).first()
    if service is None or command is None:
        messages.error(request, "That command is not waiting for your approval.")
        return
    try:
        service(
            actor=Actor.user(request.user), user=request.user, command=command, reason=request.POST.get("reason", "")
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return
    messages.success(request, f"Command #{command.pk} {'approved' if decision == 'approve' else 'denied'}.")


@portal_page("approvals", methods=("GET", "POST"))
def approvals(request, pv):
    if request.method == "POST":
        if pv.as_operator:
            raise Forbidden(FORBIDDEN_MESSAGE)  # an operator's view of a tenant is read-only
        _decide(request, pv)
        return redirect("portal:approvals", tenant=pv.tenant.slug)
    if pv.as_operator:
        pending = list(owner_approvals_waiting(commands_for(request.user).filter(tenant=pv.tenant))[:LISTED])
    else:
        pending = list(pending_owner_approvals(request.user, [pv.tenant.pk])[:LISTED])
    return {"pending": pending, "can_decide": not pv.as_operator}
