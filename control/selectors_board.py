"""What the NOC reads first about the command channel (the admin's live board): per site, the
commands by state, the oldest ready one, proposals waiting for an approver and for how long,
leases that lapsed without an ACK (stuck), the top error codes of the last hour, and ACKs for
commands the site was never handed (unknown ACKs). Everything is read through the caller's scope
(control.selectors.commands_for) and from partial indexes, so the board stays fast however long
the history grows."""

import datetime as dt
from collections import defaultdict

from django.db.models import Count, Min
from django.utils import timezone

from control.models import ACTIVE_STATES, CommandAck, CommandState
from control.selectors import commands_for
from tenants import scoping

S = CommandState
BOARD_STATES = [S.PROPOSED, S.APPROVED, S.QUEUED, S.DISPATCHED, S.RUNNING, S.ACKED]
WAITING_LIMIT = 25
ERRORS_TOP = 5


def _age(now: dt.datetime, at: dt.datetime | None) -> int | None:
    return None if at is None else max(0, int((now - at).total_seconds()))


def command_board(user, *, site_code: str = "", now: dt.datetime | None = None) -> dict:
    """The board as plain data (the admin page renders it and its JSON refresh returns it)."""
    now = now or timezone.now()
    hour_ago = now - dt.timedelta(hours=1)
    qs = commands_for(user)
    sites = scoping.sites_for(user).order_by("code")
    if site_code:
        site = scoping.site_get(user, site_code)
        qs, sites = qs.filter(site=site), sites.filter(pk=site.pk)
    names = dict(sites.values_list("pk", "code"))
    active = qs.filter(state__in=sorted(ACTIVE_STATES), site__in=list(names))
    counts: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(BOARD_STATES, 0))
    for site_id, state, n in active.values_list("site_id", "state").annotate(n=Count("id")).order_by():
        if state in counts[site_id]:
            counts[site_id][state] = n
    oldest = dict(active.filter(state=S.QUEUED).values_list("site_id").annotate(at=Min("created_at")).order_by())
    stuck = dict(
        active.filter(state__in=[S.DISPATCHED, S.RUNNING], lease_until__lt=now)
        .values_list("site_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    failed = qs.filter(state=S.FAILED, finished_at__gte=hour_ago, site__in=list(names))
    failed_by_site = dict(failed.values_list("site_id").annotate(n=Count("id")).order_by())
    errors = list(failed.values("error_code").annotate(n=Count("id")).order_by("-n", "error_code")[:ERRORS_TOP])
    unknown = dict(
        CommandAck.objects.filter(
            disposition=CommandAck.Disposition.UNKNOWN, received_at__gte=hour_ago, collector__site__in=list(names)
        )
        .values_list("collector__site_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    waiting = active.filter(state=S.PROPOSED).select_related("site", "miner").order_by("created_at")[:WAITING_LIMIT]
    return {
        "at": now.isoformat(),
        "site": site_code,
        "states": BOARD_STATES,
        "sites": [
            {
                "site": code,
                "counts": counts[pk] if pk in counts else dict.fromkeys(BOARD_STATES, 0),
                "oldest_ready_age_sec": _age(now, oldest.get(pk)),
                "stuck_leases": stuck.get(pk, 0),
                "failed_last_hour": failed_by_site.get(pk, 0),
                "unknown_acks_last_hour": unknown.get(pk, 0),
            }
            for pk, code in names.items()
        ],
        "waiting_approval": [
            {
                "id": c.pk,
                "site": c.site.code,
                "miner": c.miner.miner_id,
                "command_type": c.command_type,
                "reason": c.reason,
                "by": c.created_by_system or (str(c.created_by) if c.created_by_id else ""),
                "age_sec": _age(now, c.created_at),
            }
            for c in waiting
        ],
        "top_errors_last_hour": [{"error_code": e["error_code"] or "-", "n": e["n"]} for e in errors],
    }
