"""What a pass's hits do, all at once per rule (SPEC §7): the commands of a rule's triggers (or
recoveries) are proposed in one call of control's `command_propose_each` — each its own command,
dedupe key and evidence, judged alone by approvals, arbitration and guardrails — and the alerts
of an alert-only rule's triggers are raised in one call of hosting's `alert_raise_many`. A storm
pass that catches hundreds of miners costs a few statements per rule, not a dozen per miner.

The evidence of every hit (the last samples of its metric) is read per rule in one statement."""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from audit.services import Actor
from control.services.creation import command_create
from control.services.proposals import command_propose_each
from core.errors import DomainError
from hosting.models import AlertSeverity, AlertSource
from hosting.services.alerts import AlertDraft, alert_raise_many
from rules.models import HitKind, Rule
from rules.services.alerting import rule_alert_key, rule_alert_resolve, rule_kind
from rules.sql import METRIC_SQL, OP_SQL
from tenants.models import Miner

ACTOR = Actor.system("rules")
EVIDENCE_SAMPLES = 10


@dataclass
class Decision:
    kind: str
    rule: Rule
    miner_pk: int
    miner_id: str
    tenant_id: int
    value: float | None
    evidence: dict | None = None
    command_type: str = ""
    command_id: int | None = None
    alert_id: int | None = None
    error: str = ""


_EVIDENCE_SQL = """
SELECT q.miner_id, q.ts, q.value FROM (
    SELECT x.miner_id, x.ts, ({expr}) AS value,
           row_number() OVER (PARTITION BY x.miner_id ORDER BY x.ts DESC) AS n
    FROM telemetry_raw x JOIN tenants_miner m ON m.id = x.miner_id
    WHERE x.site_id = %(site)s AND x.miner_id = ANY(%(miners)s) AND x.ts <= %(now)s AND x.ts > %(since)s
) q WHERE q.n <= %(n)s ORDER BY q.miner_id, q.ts DESC
"""


def evidence_attach(rule: Rule, decisions: list[Decision], now: dt.datetime) -> None:
    """Each decision's evidence: the rule, its version and condition, the value, and the miner's last
    EVIDENCE_SAMPLES raw samples of the metric (within the rule's lookback) — one statement per rule."""
    if not decisions:
        return
    samples: dict[int, list[dict]] = {}
    since = now - dt.timedelta(seconds=max(rule.stale_sec, rule.min_duration_sec, 60 * EVIDENCE_SAMPLES) + 3600)
    with connection.cursor() as cur:
        cur.execute(
            _EVIDENCE_SQL.format(expr=METRIC_SQL[rule.metric]),
            {
                "site": rule.site_id,
                "miners": [d.miner_pk for d in decisions],
                "now": now,
                "since": since,
                "n": EVIDENCE_SAMPLES,
                "not_hashing_pct": settings.DOWNTIME_ZERO_HASHRATE_PCT,
            },
        )
        for miner_pk, ts, value in cur.fetchall():
            samples.setdefault(miner_pk, []).append({"ts": ts.isoformat(), "value": value})
    for d in decisions:
        d.evidence = {
            "rule_id": rule.pk,
            "rule": rule.name,
            "version": rule.version,
            "metric": rule.metric,
            "condition": f"{rule.metric} {OP_SQL[rule.op]} {rule.threshold:g}",
            "clear_threshold": rule.clear_threshold,
            "consecutive_samples": rule.consecutive_samples,
            "min_duration_sec": rule.min_duration_sec,
            "value": d.value,
            "samples": samples.get(d.miner_pk, []),
        }


def _reason(rule: Rule, kind: str) -> str:
    return f"rule {rule.name!r} v{rule.version}: {rule.metric} {OP_SQL[rule.op]} {rule.threshold:g} ({kind})"


def _propose(rule: Rule, kind: str, decisions: list[Decision], miners: dict[int, Miner]) -> None:
    recovery = kind == HitKind.RECOVERY
    command_type = rule.recovery_command_type if recovery else rule.command_type
    if not command_type:  # no recovery action
        return
    common = {
        "command_type": command_type,
        "params": rule.recovery_params if recovery else rule.params,
        "priority_class": rule.priority_class,
        "reason": _reason(rule, kind),
        "created_by_system": "rules",
        "rule_id": rule.pk,
        "approval_required": rule.approval_required,
    }
    key = f"rule:{rule.pk}:{'recovery' if recovery else 'trigger'}"
    for d in decisions:
        d.command_type = command_type
    try:
        with transaction.atomic():
            out = command_propose_each(
                actor=ACTOR,
                miners=[miners[d.miner_pk] for d in decisions],
                evidence={d.miner_pk: d.evidence or {} for d in decisions},
                dedupe_key=key,
                **common,
            )
    except DomainError:  # one miner's command is refused as a whole (e.g. its model's params): one by one
        _propose_one_by_one(decisions, miners, key, common)
        return
    for d in decisions:
        got = out[d.miner_pk]
        d.command_id = got.command.pk if got.command is not None else None
        d.error = got.error  # e.g. MINER_LOCKED: kept on the hit; the next cooldown tries again


def _propose_one_by_one(decisions: list[Decision], miners: dict[int, Miner], key: str, common: dict) -> None:
    for d in decisions:
        try:
            with transaction.atomic():
                command = command_create(
                    actor=ACTOR,
                    user=None,
                    miner=miners[d.miner_pk],
                    dedupe_key=f"{key}/{d.miner_pk}",
                    evidence=d.evidence,
                    **common,
                )
            d.command_id = command.pk
        except DomainError as exc:
            d.error = f"{exc.error_code}: {exc.message}"


def _raise_alerts(rule: Rule, decisions: list[Decision], miners: dict[int, Miner], now: dt.datetime) -> None:
    drafts = [
        AlertDraft(
            kind=rule_kind(rule),
            title=f"{d.miner_id}: {(d.evidence or {}).get('condition', '')} (rule {rule.name!r})",
            miner=miners[d.miner_pk],
            severity=AlertSeverity.CRITICAL if rule.priority_class >= 40 else AlertSeverity.WARNING,
            details=d.evidence,
            dedupe_key=rule_alert_key(rule, miners[d.miner_pk]),
            rule_id=rule.pk,
        )
        for d in decisions
    ]
    for d, alert in zip(
        decisions,
        alert_raise_many(site=rule.site, drafts=drafts, source=AlertSource.RULE, actor=ACTOR, now=now),
        strict=True,
    ):
        d.alert_id = alert.pk


def act(decisions: list[Decision], now: dt.datetime) -> None:
    """Carry out the triggers and recoveries of one site pass, grouped by rule and kind."""
    acting = [d for d in decisions if d.kind in (HitKind.TRIGGER, HitKind.RECOVERY)]
    miners = Miner.objects.select_related("site", "zone").in_bulk([d.miner_pk for d in acting])
    groups: dict[tuple[int, str], list[Decision]] = {}
    for d in acting:
        groups.setdefault((d.rule.pk, d.kind), []).append(d)
    for (_, kind), group in groups.items():
        rule = group[0].rule
        if rule.command_type:
            _propose(rule, kind, group, miners)
        elif kind == HitKind.TRIGGER:  # an alert-only rule
            _raise_alerts(rule, group, miners, now)
        else:
            for d in group:
                d.alert_id = rule_alert_resolve(actor=ACTOR, rule=rule, miner=miners[d.miner_pk], now=now)
