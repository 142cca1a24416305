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

from audit.services import EventSpec, audit_record_many
from core.periodic import advisory_lock_key
from hosting.selectors.maintenance import maintenance_occurrences
from rules import metrics
from rules.models import HitKind, Mode, Rule, RuleHit, RuleState
from rules.services.actions import ACTOR, Decision, act, evidence_attach
from rules.services.alerting import stale_alerts, stale_alerts_resolve, stale_work_orders
from rules.services.decision import MaintenanceAt, Observation, decide, lookback_sec
from rules.sql import candidates_sql, scope_flags, scope_params


@dataclass
class PassReport:
    dry_run: bool = False
    sites: int = 0
    rules: int = 0
    candidates: int = 0
    stale: int = 0
    stale_alerts: int = 0
    stale_work_orders: int = 0
    decisions: list[Decision] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, kind: str) -> int:
        return sum(1 for d in self.decisions if d.kind == kind)

    def lines(self) -> list[str]:
        head = (
            f"{'dry run: ' if self.dry_run else ''}{self.sites} site(s), {self.rules} rule(s), "
            f"{self.candidates} miner(s) breaching or remembered, {self.stale} stale"
            f" ({self.stale_alerts} stale alert(s) raised, {self.stale_work_orders} work order(s) opened); "
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


def _site_pass(site, rules: list[Rule], now: dt.datetime, report: PassReport) -> None:
    maintenance = _maintenance(site, now)
    states, hits, events = [], [], []
    stale: dict[int, tuple[dt.datetime, Rule]] = {}
    decisions: list[Decision] = []
    for rule in rules:
        with connection.cursor() as cur:  # a second pass of the same rule waits for this one's commit
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [advisory_lock_key(f"rules.rule.{rule.pk}")])
        rows = _candidates(rule, now)
        found: list[Decision] = []
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
                found.append(Decision(kind, rule, miner_pk, miner_id, tenant_id, value))
        evidence_attach(rule, found, now)
        decisions.extend(found)
    report.decisions.extend(decisions)
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
    stale_alerts_resolve(actor=ACTOR, site=site, now=now)
    report.stale_work_orders += stale_work_orders(actor=ACTOR, site=site, now=now)
    act(decisions, now)
    for d in decisions:
        metrics.rule_hits_total.labels(d.kind).inc()
        evidence = d.evidence or {}
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
    for hit, d in zip(hits, decisions, strict=True):
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


def sites_with_rules() -> list[int]:
    """The ids of the sites with an enabled rule, in id order."""
    return list(Rule.objects.filter(enabled=True).order_by("site_id").values_list("site_id", flat=True).distinct())


def rules_evaluate(
    *, now: dt.datetime | None = None, site=None, site_ids: list[int] | None = None, dry_run: bool = False
) -> PassReport:
    """One pass over every enabled rule (of `site`, or of the sites `site_ids`, if given). A dry run
    decides and reports but writes nothing: no state, hit, command or audit event."""
    now = now or timezone.now()
    report = PassReport(dry_run=dry_run)
    started = time.perf_counter()
    rules = Rule.objects.filter(enabled=True).select_related("site").order_by("site_id", "pk")
    if site is not None:
        rules = rules.filter(site=site)
    if site_ids is not None:
        rules = rules.filter(site_id__in=site_ids)
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
