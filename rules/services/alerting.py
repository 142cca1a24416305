"""The rule engine's alerts, raised and resolved through hosting's services (SPEC §7, §9):

- an alert-only rule (no command) raises one alert per miner on a trigger (deduplicated while it
  is live) and resolves it on recovery;
- a miner whose newest sample is older than the rule's `stale_sec` gets no command but one
  `miner_stale` alert (shared by every rule that sees it) — unless its site's collector is dark:
  then the one collector-dark site alert stands for all of its miners;
- a `miner_stale` alert open RULES_STALE_WORK_ORDER_MIN minutes (0: never) gets one work order,
  linked to it (SPEC §7: "optionally a work order").
"""

import datetime as dt

from django.conf import settings
from django.db.models import Exists, OuterRef

from audit.services import Actor
from hosting.models import Alert, AlertSeverity, AlertSource, AlertState, WorkOrder
from hosting.selectors.alerts import alert_live, site_is_dark
from hosting.services.alerts import alert_raise, alert_resolve, default_dedupe_key
from hosting.services.work_orders import work_order_create
from rules.models import HitKind, Rule
from tenants.models import Miner, Site

STALE = "miner_stale"


def _rule_kind(rule: Rule) -> str:
    return f"rule_{rule.metric}"


def rule_alert(*, actor: Actor, rule: Rule, kind: str, miner: Miner, evidence: dict, now: dt.datetime) -> int | None:
    """Raise (trigger) or resolve (recovery) the alert of an alert-only rule; the alert's id."""
    key = default_dedupe_key(kind=_rule_kind(rule), site=rule.site, miner=miner, rule_id=rule.pk)
    if kind == HitKind.RECOVERY:
        live = alert_live(key)
        if live is not None:
            alert_resolve(actor=actor, alert=live, reason=f"rule {rule.name!r}: clear condition holds", now=now)
        return live.pk if live is not None else None
    alert = alert_raise(
        site=rule.site,
        kind=_rule_kind(rule),
        title=f"{miner.miner_id}: {evidence['condition']} (rule {rule.name!r})",
        severity=AlertSeverity.CRITICAL if rule.priority_class >= 40 else AlertSeverity.WARNING,
        source=AlertSource.RULE,
        miner=miner,
        details=evidence,
        dedupe_key=key,
        rule_id=rule.pk,
        actor=actor,
        now=now,
    )
    return alert.pk


def stale_alerts(*, actor: Actor, site: Site, stale: dict[int, tuple[dt.datetime, Rule]], now: dt.datetime) -> int:
    """One `miner_stale` alert per stale miner (live ones are kept, not repeated); none when the
    site is dark. How many were raised now."""
    if not stale or site_is_dark(site):
        return 0
    raised = 0
    for miner in Miner.objects.filter(pk__in=list(stale)).select_related("site").order_by("pk"):
        last, rule = stale[miner.pk]
        alert = alert_raise(
            site=site,
            kind=STALE,
            title=f"{miner.miner_id}: no data since {last:%Y-%m-%d %H:%M} UTC",
            severity=AlertSeverity.WARNING,
            source=AlertSource.RULE,
            miner=miner,
            details={"last_sample": last.isoformat(), "stale_sec": rule.stale_sec, "rule_id": rule.pk},
            actor=actor,
            now=now,
        )
        raised += int(alert.raised)
    return raised


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
