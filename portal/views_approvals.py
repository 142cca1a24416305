"""The portal's "Approvals" page: commands on the tenant's miners waiting for the owner's approval
(customer consent, control.services.consent), each approved or denied with a reason — or, for a
batch, all its commands at once (one transaction: all or none); and "Request an action": a
customer proposes a command on one of their miners, of a type their consent policy lets customers
propose (control.services.owner_proposals), which then waits for an operator. The miner is picked
from the customer's own miners (approval_miners, searched on the server); refusals are limited per
user (control.proposal_throttle). An operator looking in sees the page read-only; the decisions and
requests are the customer's."""

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect

from audit.services import Actor
from control.errors import NotYours
from control.models import CommandType
from control.proposal_throttle import ProposalsThrottled, proposal_gate, proposal_refusal_count
from control.selectors import commands_for, owner_approvals_waiting, pending_owner_approvals
from control.services import consent, owner_proposals
from control.services.params import param_names
from core.errors import DomainError, Forbidden
from portal import selectors
from portal.views import portal_page
from tenants.scoping import FORBIDDEN_MESSAGE

LISTED = 200
MY_REQUESTS = 20
PICKER_LIMIT = 20


def _decide(request, pv) -> None:
    decision = request.POST.get("decision", "")
    approve = decision in ("approve", "approve_batch")
    waiting = pending_owner_approvals(request.user, [pv.tenant.pk])
    command = waiting.filter(pk=request.POST.get("command") or 0).first()
    if decision not in ("approve", "deny", "approve_batch", "deny_batch") or command is None:
        messages.error(request, "That command is not waiting for your approval.")
        return
    actor, reason = Actor.user(request.user), request.POST.get("reason", "")
    try:
        if decision.endswith("_batch") and command.batch_id:
            batch = list(commands_for(request.user).filter(tenant=pv.tenant, batch_id=command.batch_id))
            done = consent.command_owner_decide_batch(
                actor=actor, user=request.user, commands=batch, approve=approve, reason=reason
            )
            what = f"{len(done)} commands of the batch"
        else:
            service = consent.command_owner_approve if approve else consent.command_owner_deny
            service(actor=actor, user=request.user, command=command, reason=reason)
            what = f"Command #{command.pk}"
    except DomainError as exc:
        messages.error(request, exc.message)
        return
    messages.success(request, f"{what} {'approved' if approve else 'denied'}.")


def _params(request, command_type: str) -> dict:
    out: dict = {}
    for name in sorted(param_names(command_type)):
        value = request.POST.get(f"param_{name}", "").strip()
        if value:
            out[name] = int(value) if value.isdigit() else value
    return out


def _request(request, pv) -> None:
    try:
        _propose(request, pv)
    except ProposalsThrottled as exc:
        messages.error(request, f"Too many refused requests: try again in {exc.retry_in} s.")


def _propose(request, pv) -> None:
    site, miner_id = request.POST.get("site", ""), request.POST.get("miner_id", "").strip()
    command_type = request.POST.get("command_type", "")
    proposal_gate(request.user)  # past PROPOSAL_REFUSAL_RATE refusals: nothing more is looked up or audited
    miner = pv.miners(request.user).select_related("site").filter(site__code=site, miner_id=miner_id).first()
    actor = Actor.user(request.user)
    if miner is None:
        proposal_refusal_count(request.user)
        owner_proposals.command_owner_proposal_refuse(
            actor=actor,
            user=request.user,
            tenant_ids=[pv.tenant.pk],
            site_code=site,
            target_ids=[miner_id],
            why="not your miner",
        )
        messages.error(request, f"{miner_id or 'That miner'} is not one of your miners at {site or 'that site'}.")
        return
    try:
        command = owner_proposals.command_owner_propose(
            actor=actor,
            user=request.user,
            miner=miner,
            command_type=command_type,
            params=_params(request, command_type) if command_type in CommandType.values else None,
            reason=request.POST.get("reason", ""),
        )
    except (Forbidden, NotYours) as exc:  # a type the policy does not allow; a group-limited customer
        proposal_refusal_count(request.user)
        messages.error(request, exc.message)
        return
    except DomainError as exc:
        messages.error(request, exc.message)
        return
    messages.success(request, f"Request #{command.pk} sent: it waits for your operator's approval.")


def _request_form(request, pv) -> dict:
    """What the form offers: the types the tenant's policy lets customers propose, the sites of the
    customer's miners (the miner itself is picked from /approvals/miners/); and why there is no form
    when it would always fail — no allowed type, no miner, or a customer limited to miner groups
    (proposing gives the owner's step, a whole-tenant Customer's act: docs/SECURITY.md)."""
    types = owner_proposals.customer_types(pv.tenant.pk)
    labels = dict(CommandType.choices)
    fields = sorted({n for t in types for n in param_names(t)} - {"post_wait_sec"})
    sites = list(pv.miners(request.user).order_by("site__code").values_list("site__code", flat=True).distinct())
    mine = commands_for(request.user).filter(tenant=pv.tenant, created_by=request.user)
    if not consent.is_owner(request.user, pv.tenant.pk):
        closed = "group"
    elif not types:
        closed = "types"
    elif not sites:
        closed = "miners"
    else:
        closed = ""
    return {
        "request_closed": closed,
        "request_types": [(t, labels.get(t, t)) for t in types],
        "request_fields": fields,
        "request_sites": sites,
        "picker_limit": PICKER_LIMIT,
        "my_requests": list(mine.select_related("miner", "site").order_by("-pk")[:MY_REQUESTS]),
    }


@portal_page("approvals")
def approval_miners(request, pv):
    """GET …/approvals/miners/?site=&q= — the request form's miner picker: the portal's miners of the
    tenant as the person sees them (scoping), searched on the server, at most PICKER_LIMIT."""
    rows, more = selectors.miner_choices(
        request.user,
        pv,
        q=request.GET.get("q", "").strip()[:100],
        site=request.GET.get("site", "").strip()[:64],
        limit=PICKER_LIMIT,
    )
    return JsonResponse({"miners": rows, "more": more})


@portal_page("approvals", methods=("GET", "POST"))
def approvals(request, pv):
    if request.method == "POST":
        if pv.as_operator:
            raise Forbidden(FORBIDDEN_MESSAGE)  # an operator's view of a tenant is read-only
        if request.POST.get("action") == "request":
            _request(request, pv)
        else:
            _decide(request, pv)
        return redirect("portal:approvals", tenant=pv.tenant.slug)
    if pv.as_operator:
        pending = list(owner_approvals_waiting(commands_for(request.user).filter(tenant=pv.tenant))[:LISTED])
        return {"pending": pending, "can_decide": False}
    pending = list(pending_owner_approvals(request.user, [pv.tenant.pk])[:LISTED])
    batch_sizes: dict = {}
    for c in pending:
        if c.batch_id:
            batch_sizes[c.batch_id] = batch_sizes.get(c.batch_id, 0) + 1
    for c in pending:
        c.batch_waiting = batch_sizes.get(c.batch_id, 0) if c.batch_id else 0
    return {"pending": pending, "can_decide": True, **_request_form(request, pv)}
