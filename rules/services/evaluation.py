"""One evaluation pass (SPEC §7): per site, per enabled rule, one statement finds the miners whose
newest sample breaches (or that the engine remembers), the decisions are made here, and the
results are written in one transaction per site: states, hits, the commands proposed through
control's services, and one audit append for the pass's hits.

A miner triggers when its breach is sustained (`consecutive_samples` raw samples in a row and
`min_duration_sec` since the first), it is not cooling down, under its daily cap and outside
maintenance. Triggered, it stays so until the clear condition holds on its newest sample
(hysteresis), then the recovery action runs; a breach that outlasts the cooldown triggers again
(one command per cooldown, however many passes). A miner whose newest sample is older than the
rule's `stale_sec` is never acted on: stale data proposes nothing.
"""

import datetime as dt
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.services import Actor, EventSpec, audit_record_many
from control.services.creation import command_create
from core.errors import DomainError
from core.periodic import advisory_lock_key
from hosting.selectors.maintenance import maintenance_occurrences
from rules import metrics
from rules.models import HitKind, Mode, Rule, RuleHit, RuleState
from rules.services.alerting import rule_alert, stale_alerts
from rules.services.decision import MaintenanceAt, Observation, decide, lookback_sec
from rules.sql import METRIC_SQL, OP_SQL, candidates_sql, scope_flags, scope_params
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
    command_type: str = ""
    command_id: int | None = None
    alert_id: int | None = None
    error: str = ""


@dataclass
class PassReport:
    dry_run: bool = False
    sites: int = 0
    rules: int = 0
    candidates: int = 0
    stale: int = 0
    stale_alerts: int = 0
    decisions: list[Decision] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, kind: str) -> int:
        return sum(1 for d in self.decisions if d.kind == kind)

    def lines(self) -> list[str]:
        head = (
            f"{'dry run: ' if self.dry_run else ''}{self.sites} site(s), {self.rules} rule(s), "
            f"{self.candidates} miner(s) breaching or remembered, {self.stale} stale"
            f" ({self.stale_alerts} stale alert(s) raised); "
            + ", ".join(f"{self.count(k)} {k}" for k in HitKind.values)
            + f" in {self.seconds:.2f} s"
        )
        out = [head]
        for d in self.decisions:
            what = (
                f" → {d.command_type} #{d.command_id}"
                if d.command_id
                else (f" → {d.command_type}" if d.command_type else "")
            )
            what += f" → alert #{d.alert_id}" if d.alert_id else ""
            why = f" ({d.error})" if d.error else ""
            value = "no value" if d.value is None else f"{d.value:g}"
            out.append(
                f"  {d.kind:<10} {d.rule.site.code}/{d.miner_id} rule {d.rule.name!r} v{d.rule.version}: "
                f"{value}{what}{why}"
            )
        return out


def _maintenance(site, now: dt.datetime) -> MaintenanceAt:
    return MaintenanceAt(maintenance_occurrences(site=site, start=now, end=now + dt.timedelta(microseconds=1)), now)


def _candidates(rule: Rule, now: dt.datetime) -> list[tuple]:
    lookback = lookback_sec(rule)
    sql = candidates_sql(metric=rule.metric, op=rule.op, **scope_flags(rule))
    params = {
        **scope_params(rule),
        "rule": rule.pk,
        "threshold": rule.threshold,
        "now": now,
        "lookback_from": now - dt.timedelta(seconds=lookback),
        "not_hashing_pct": settings.DOWNTIME_ZERO_HASHRATE_PCT,
    }
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _evidence(rule: Rule, miner_pk: int, now: dt.datetime, value: float | None) -> dict:
    expr = METRIC_SQL[rule.metric]
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT x.ts, ({expr}) FROM telemetry_raw x JOIN tenants_miner m ON m.id = x.miner_id "
            "WHERE x.site_id = %(site)s AND x.miner_id = %(miner)s AND x.ts <= %(now)s ORDER BY x.ts DESC LIMIT %(n)s",
            {
                "site": rule.site_id,
                "miner": miner_pk,
                "now": now,
                "n": EVIDENCE_SAMPLES,
                "not_hashing_pct": settings.DOWNTIME_ZERO_HASHRATE_PCT,
            },
        )
        samples = [{"ts": ts.isoformat(), "value": v} for ts, v in cur.fetchall()]
    return {
        "rule_id": rule.pk,
        "rule": rule.name,
        "version": rule.version,
        "metric": rule.metric,
        "condition": f"{rule.metric} {OP_SQL[rule.op]} {rule.threshold:g}",
        "clear_threshold": rule.clear_threshold,
        "consecutive_samples": rule.consecutive_samples,
        "min_duration_sec": rule.min_duration_sec,
        "value": value,
        "samples": samples,
    }


def _act(decision: Decision, miners: dict[int, Miner], now: dt.datetime, evidence: dict) -> None:
    rule = decision.rule
    recovery = decision.kind == HitKind.RECOVERY
    command_type = rule.recovery_command_type if recovery else rule.command_type
    if decision.kind not in (HitKind.TRIGGER, HitKind.RECOVERY):
        return
    if not rule.command_type:  # an alert-only rule
        decision.alert_id = rule_alert(
            actor=ACTOR, rule=rule, kind=decision.kind, miner=miners[decision.miner_pk], evidence=evidence, now=now
        )
        return
    if not command_type:  # no recovery action
        return
    decision.command_type = command_type
    try:
        with transaction.atomic():
            command = command_create(
                actor=ACTOR,
                user=None,
                miner=miners[decision.miner_pk],
                command_type=command_type,
                params=rule.recovery_params if recovery else rule.params,
                priority_class=rule.priority_class,
                reason=f"rule {rule.name!r} v{rule.version}: {evidence['condition']} ({decision.kind})",
                dedupe_key=f"rule:{rule.pk}:{'recovery' if recovery else 'trigger'}:{decision.miner_pk}",
                evidence=evidence,
                created_by_system="rules",
                rule_id=rule.pk,
                approval_required=rule.approval_required,
            )
        decision.command_id = command.pk
    except DomainError as exc:  # e.g. MINER_LOCKED: kept on the hit; the next cooldown tries again
        decision.error = f"{exc.error_code}: {exc.message}"


def _site_pass(site, rules: list[Rule], now: dt.datetime, report: PassReport) -> None:
    maintenance = _maintenance(site, now)
    states, hits, events = [], [], []
    stale: dict[int, tuple[dt.datetime, Rule]] = {}
    decisions: list[tuple[Decision, dict]] = []
    for rule in rules:
        with connection.cursor() as cur:  # a second pass of the same rule waits for this one's commit
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [advisory_lock_key(f"rules.rule.{rule.pk}")])
        rows = _candidates(rule, now)
        report.rules += 1
        report.candidates += len(rows)
        for row in rows:
            miner_pk, miner_id, tenant_id, _zone, live_ts, value = row[:6]
            if (now - live_ts).total_seconds() > rule.stale_sec:
                report.stale += 1
                stale.setdefault(miner_pk, (live_ts, rule))
                metrics.rule_evals_total.labels("stale").inc()
                continue
            state = RuleState(
                rule=rule,
                miner_id=miner_pk,
                mode=row[8] or Mode.NORMAL,
                count=row[9] or 0,
                first_breach_at=row[10],
                last_sample_ts=row[11],
                last_trigger_at=row[12],
                cooldown_until=row[13],
                day=row[14],
                triggers_today=row[15] or 0,
                updated_at=now,
            )
            obs = Observation(miner_pk, row[3], live_ts, value, row[6], row[16] or 0, row[17] or 0, row[18])
            kind = decide(rule, obs, state, now, maintenance)
            metrics.rule_evals_total.labels(kind or "no_action").inc()
            states.append(state)
            if kind is not None:
                d = Decision(kind, rule, miner_pk, miner_id, tenant_id, value)
                decisions.append((d, _evidence(rule, miner_pk, now, value)))
    report.decisions.extend(d for d, _ in decisions)
    if report.dry_run:
        return
    RuleState.objects.bulk_create(
        states,
        update_conflicts=True,
        unique_fields=["rule", "miner"],
        update_fields=[
            "mode",
            "count",
            "first_breach_at",
            "last_sample_ts",
            "last_trigger_at",
            "cooldown_until",
            "day",
            "triggers_today",
            "updated_at",
        ],
    )
    report.stale_alerts += stale_alerts(actor=ACTOR, site=site, stale=stale, now=now)
    miners = Miner.objects.in_bulk([d.miner_pk for d, _ in decisions])
    for d, evidence in decisions:
        _act(d, miners, now, evidence)
        metrics.rule_hits_total.labels(d.kind).inc()
        hits.append(
            RuleHit(
                rule=d.rule,
                version=d.rule.version,
                miner_id=d.miner_pk,
                tenant_id=d.tenant_id,
                kind=d.kind,
                at=now,
                value=d.value,
                threshold=d.rule.threshold,
                command_id=d.command_id,
                evidence=evidence
                | ({"error": d.error} if d.error else {})
                | ({"alert_id": d.alert_id} if d.alert_id else {}),
            )
        )
    RuleHit.objects.bulk_create(hits)
    for hit, d in zip(hits, (d for d, _ in decisions), strict=True):
        payload = {
            "rule_id": d.rule.pk,
            "version": d.rule.version,
            "miner": d.miner_id,
            "kind": d.kind,
            "value": d.value,
            "condition": hit.evidence["condition"],
            "command_id": d.command_id,
            "alert_id": d.alert_id,
            "error": d.error,
        }
        events.append(EventSpec(f"rules.hit.{d.kind}", "rules.rulehit", str(hit.pk), payload, d.tenant_id, site.code))
    audit_record_many(actor=ACTOR, events=events)  # one append per chain for the whole pass


def rules_evaluate(*, now: dt.datetime | None = None, site=None, dry_run: bool = False) -> PassReport:
    """One pass over every enabled rule (of `site`, if given). A dry run decides and reports but
    writes nothing: no state, hit, command or audit event."""
    now = now or timezone.now()
    report = PassReport(dry_run=dry_run)
    started = time.perf_counter()
    rules = Rule.objects.filter(enabled=True).select_related("site").order_by("site_id", "pk")
    if site is not None:
        rules = rules.filter(site=site)
    by_site: dict[int, list[Rule]] = {}
    for rule in rules:
        by_site.setdefault(rule.site_id, []).append(rule)
    for site_rules in by_site.values():
        site_started = time.perf_counter()
        with transaction.atomic():
            _site_pass(site_rules[0].site, site_rules, now, report)
            if dry_run:
                transaction.set_rollback(True)
        metrics.rule_pass_seconds.observe(time.perf_counter() - site_started)
        report.sites += 1
    report.seconds = time.perf_counter() - started
    return report
