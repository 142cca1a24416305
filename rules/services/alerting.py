"""The rule engine's alerts, raised and resolved through hosting's services (SPEC §7, §9):

- an alert-only rule (no command) raises one alert per miner on a trigger (deduplicated while it
  is live) and resolves it on recovery;
- a miner whose newest sample is older than the rule's `stale_sec` gets no command but one
  `miner_stale` alert (shared by every rule that sees it) — unless its site's collector is dark:
  then the one collector-dark site alert stands for all of its miners; it is resolved by the first
  pass that finds the miner reporting again;
- a `miner_stale` alert open RULES_STALE_WORK_ORDER_MIN minutes (0: never) gets one work order,
  linked to it (SPEC §7: "optionally a work order").
"""

import datetime as dt

from django.conf import settings
from django.db.models import Exists, OuterRef

from audit.services import Actor
from hosting.models import Alert, AlertSource, AlertState, WorkOrder
from hosting.selectors.alerts import alert_live, site_is_dark
from hosting.services.alerts import AlertDraft, alert_raise_many, alert_resolve, default_dedupe_key
from hosting.services.work_orders import work_order_create
from rules.models import Rule
from telemetry.models import TelemetryLive
from tenants.models import Miner, Site

STALE = "miner_stale"


def rule_kind(rule: Rule) -> str:
    return f"rule_{rule.metric}"


def rule_alert_key(rule: Rule, miner: Miner) -> str:
    """The one live alert of an alert-only rule on one miner."""
    return default_dedupe_key(kind=rule_kind(rule), site=rule.site, miner=miner, rule_id=rule.pk)


def rule_alert_resolve(*, actor: Actor, rule: Rule, miner: Miner, now: dt.datetime) -> int | None:
    """Resolve an alert-only rule's live alert on this miner (its recovery); the alert's id, if any."""
    live = alert_live(rule_alert_key(rule, miner))
    if live is not None:
        alert_resolve(actor=actor, alert=live, reason=f"rule {rule.name!r}: clear condition holds", now=now)
    return live.pk if live is not None else None


def stale_alerts(*, actor: Actor, site: Site, stale: dict[int, tuple[dt.datetime, Rule]], now: dt.datetime) -> int:
    """One `miner_stale` alert per stale miner (live ones are kept, not repeated); none when the
    site is dark. How many were raised now."""
    if not stale or site_is_dark(site):
        return 0
    drafts = []
    for miner in Miner.objects.filter(pk__in=list(stale)).select_related("site").order_by("pk"):
        last, rule = stale[miner.pk]
        drafts.append(
            AlertDraft(
                kind=STALE,
                title=f"{miner.miner_id}: no data since {last:%Y-%m-%d %H:%M} UTC",
                miner=miner,
                details={"last_sample": last.isoformat(), "stale_sec": rule.stale_sec, "rule_id": rule.pk},
            )
        )
    alerts = alert_raise_many(site=site, drafts=drafts, source=AlertSource.RULE, actor=actor, now=now)
    return sum(1 for a in alerts if a.raised)


def stale_alerts_resolve(*, actor: Actor, site: Site, now: dt.datetime) -> int:
    """Resolve the site's live `miner_stale` alerts whose miner reports again (its newest sample is
    within the stale_sec the alert was raised for). How many were resolved."""
    live = list(
        Alert.objects.filter(site=site, kind=STALE, source=AlertSource.RULE, miner__isnull=False)
        .exclude(state=AlertState.RESOLVED)
        .select_related("site")
    )
    if not live:
        return 0
    newest = dict(TelemetryLive.objects.filter(miner_id__in=[a.miner_id for a in live]).values_list("miner_id", "ts"))
    resolved = 0
    for alert in live:
        ts = newest.get(alert.miner_id) if alert.miner_id is not None else None
        limit = (alert.details or {}).get("stale_sec") or settings.TELEMETRY_STALE_SEC
        if ts is not None and (now - ts).total_seconds() <= limit:
            alert_resolve(actor=actor, alert=alert, reason=f"data again since {ts:%Y-%m-%d %H:%M} UTC", now=now)
            resolved += 1
    return resolved


def stale_work_orders(*, actor: Actor, site: Site, now: dt.datetime) -> int:
    """One work order per `miner_stale` alert of the site open at least RULES_STALE_WORK_ORDER_MIN
    minutes and not yet linked to one (idempotent: the link is the memory). How many were opened."""
    minutes = settings.RULES_STALE_WORK_ORDER_MIN
    if minutes <= 0:
        return 0
    linked = WorkOrder.objects.filter(alert=OuterRef("pk"))
    due = (
        Alert.objects.filter(site=site, kind=STALE, source=AlertSource.RULE, miner__isnull=False)
        .exclude(state=AlertState.RESOLVED)
        .filter(fired_at__lte=now - dt.timedelta(minutes=minutes))
        .exclude(Exists(linked))
        .select_related("site", "miner")
        .order_by("pk")
    )
    opened = 0
    for alert in due:
        if alert.miner is None:  # excluded by the query; narrows the type
            continue
        work_order_create(
            actor=actor,
            alert=alert,
            title=f"{alert.miner.miner_id}: no data for {minutes}+ min",
            description=f"{alert.title}. Opened by the rule engine after {minutes} minutes of stale data.",
            now=now,
        )
        opened += 1
    return opened
