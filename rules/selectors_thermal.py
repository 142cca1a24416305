"""What the legacy thermal routes read: the hits of a site's thermal rules as the original's
thermal events, and the site's thermal figures (rules.services.thermal keeps the rules)."""

import datetime as dt

from django.conf import settings
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from core.errors import InvalidParameter
from rules.models import HitKind, Mode, RuleHit, RuleState, ThermalLevel
from rules.services.thermal import event_type, thermal_config
from telemetry.models import TelemetryLive
from tenants.models import Site

EVENT_TYPES = (*ThermalLevel.values, HitKind.RECOVERY, HitKind.SUPPRESSED, HitKind.CAPPED)
_ACTIONS: dict[tuple[str, str], str] = {
    (ThermalLevel.WARNING, HitKind.TRIGGER): "warning_logged",
    (ThermalLevel.THROTTLE, HitKind.TRIGGER): "frequency_throttled",
    (ThermalLevel.CRITICAL, HitKind.TRIGGER): "mining_disable_proposed",
    (ThermalLevel.WARNING, HitKind.RECOVERY): "warning_cleared",
    (ThermalLevel.THROTTLE, HitKind.RECOVERY): "frequency_recovered",
    (ThermalLevel.CRITICAL, HitKind.RECOVERY): "critical_cleared",
}


def _event_q(name: str) -> Q:
    if name in ThermalLevel.values:
        return Q(kind=HitKind.TRIGGER, rule__thermal_level=name)
    return Q(kind=name)


def thermal_hits(site: Site) -> QuerySet[RuleHit]:
    return RuleHit.objects.filter(rule__site=site).exclude(rule__thermal_level="")


def thermal_events(site: Site, *, event: str | None = None, miner: str | None = None, limit: int = 50) -> list[dict]:
    """The newest hits of the site's thermal rules as the original's events (filters event_type,
    miner_id: the edge miner id or the miner's id)."""
    if event is not None and event not in EVENT_TYPES:
        raise InvalidParameter(f"event_type: one of {', '.join(EVENT_TYPES)}", field="event_type")
    qs = thermal_hits(site)
    if event is not None:
        qs = qs.filter(_event_q(event))
    if miner:
        qs = qs.filter(Q(miner__miner_id=miner) | (Q(miner_id=int(miner)) if miner.isdigit() else Q(pk__in=[])))
    recovered = RuleHit.objects.filter(
        rule_id=OuterRef("rule_id"), miner_id=OuterRef("miner_id"), kind=HitKind.RECOVERY, at__gt=OuterRef("at")
    ).order_by("at")
    qs = qs.annotate(resolved_at=Subquery(recovered.values("at")[:1])).select_related("rule", "miner", "command")
    out = []
    for hit in qs.order_by("-at", "-id")[:limit]:
        level = hit.rule.thermal_level
        error = hit.evidence.get("error")
        command = hit.command
        frequency = command.params.get("frequency") if command is not None else None
        out.append(
            {
                "id": hit.pk,
                "site_id": site.pk,
                "site_code": site.code,
                "miner_id": hit.miner.miner_id,
                "event_type": event_type(level, hit.kind),
                "temperature": hit.value,
                "threshold": hit.threshold,
                "action_taken": _ACTIONS.get((level, hit.kind), hit.kind),
                "frequency_before": settings.THERMAL_BASE_FREQUENCY_MHZ
                if (level, hit.kind) == (ThermalLevel.THROTTLE, HitKind.TRIGGER)
                else None,
                "frequency_after": frequency,
                "success": error is None and hit.kind in (HitKind.TRIGGER, HitKind.RECOVERY),
                "error_message": error,
                "command_id": hit.command_id,
                "command_state": command.state if command is not None else None,
                "alert_id": hit.evidence.get("alert_id"),
                "rule_id": hit.rule_id,
                "rule_version": hit.version,
                "created_at": hit.at,
                "resolved_at": hit.resolved_at if hit.kind == HitKind.TRIGGER else None,
            }
        )
    return out


def _counts(qs: QuerySet[RuleHit]) -> dict[str, int]:
    rows = qs.order_by().values_list("rule__thermal_level", "kind").annotate(n=Count("id"))
    out = dict.fromkeys(EVENT_TYPES, 0)
    for level, kind, n in rows:
        out[event_type(level, kind)] += n
    return out


def thermal_stats(site: Site, now: dt.datetime | None = None) -> dict:
    """The original's figures (today's events by type, throttled now, hot miners) and a few more:
    the last 24 h by type, the hottest miner now, miners reporting."""
    now = now or timezone.now()
    today = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    config = thermal_config(site)
    hits = thermal_hits(site)
    today_counts = _counts(hits.filter(at__gte=today))
    triggered = RuleState.objects.filter(rule__site=site, mode=Mode.TRIGGERED).exclude(rule__thermal_level="")
    by_level = dict(triggered.order_by().values_list("rule__thermal_level").annotate(n=Count("id")))
    live = TelemetryLive.objects.filter(site=site, online=True)
    warm = live.filter(temperature_max__gte=config["warning_temp"])
    return {
        "today_warnings": today_counts[ThermalLevel.WARNING],
        "today_throttles": today_counts[ThermalLevel.THROTTLE],
        "today_criticals": today_counts[ThermalLevel.CRITICAL],
        "today_recoveries": today_counts[HitKind.RECOVERY],
        "currently_throttled": by_level.get(ThermalLevel.THROTTLE, 0),
        "currently_critical": by_level.get(ThermalLevel.CRITICAL, 0),
        "high_temp_miners": warm.count(),
        "high_temp_threshold": config["warning_temp"],
        "max_temp_now": live.aggregate(m=Max("temperature_max"))["m"],
        "miners_reporting": live.count(),
        "last_24h": _counts(hits.filter(at__gte=now - dt.timedelta(hours=24))),
        "is_enabled": config["is_enabled"],
    }
