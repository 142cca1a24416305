"""Alerts and incidents (SPEC §9): firing → acknowledged → resolved.

`alert_raise` is the one way an alert is created — by the system (the collector-dark job below),
by an operator, and later by the rule engine — and it is idempotent by `dedupe_key` in the
database: one INSERT … ON CONFLICT DO NOTHING against the partial unique index
`alert_one_live_per_key` (one live, i.e. not resolved, alert per key). Raising a key that is
already live returns the live row unchanged; once it is resolved, the same key raises a new one.

Every change is audited in the same transaction: in the owning tenant's chain for a miner alert,
in the site's chain for a site alert."""

import datetime as dt
from dataclasses import dataclass

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from audit.services import Actor, EventSpec, audit_record_many, entity_ref
from control.errors import InvalidTransition
from core.errors import Conflict, InvalidParameter
from hosting.models import Alert, AlertSeverity, AlertSource, AlertState
from hosting.services._common import actor_for, audit, require_operate, required_text
from telemetry.models import IngestBatch
from tenants.models import Collector, Miner, Site

SYSTEM = "hosting.alerts"
COLLECTOR_DARK = "collector_dark"
ALERT_TRANSITIONS: dict[str, frozenset[str]] = {
    AlertState.FIRING: frozenset({AlertState.ACKNOWLEDGED, AlertState.RESOLVED}),
    AlertState.ACKNOWLEDGED: frozenset({AlertState.RESOLVED}),
    AlertState.RESOLVED: frozenset(),
}

_INSERT_SQL = """
INSERT INTO hosting_alert (tenant_id, site_id, miner_id, kind, severity, source, state, title, details,
                           dedupe_key, fired_at, rule_id)
VALUES (%(tenant)s, %(site)s, %(miner)s, %(kind)s, %(severity)s, %(source)s, 'firing', %(title)s,
        %(details)s::jsonb, %(key)s, %(at)s, %(rule)s)
ON CONFLICT (dedupe_key) WHERE NOT (state = 'resolved') DO NOTHING
RETURNING id
"""


@dataclass
class AlertDraft:
    """One alert to raise (alert_raise's arguments, for alert_raise_many)."""

    kind: str
    title: str
    miner: Miner | None = None
    severity: str = AlertSeverity.WARNING
    details: dict | None = None
    dedupe_key: str | None = None
    rule_id: int | None = None


def _row(site: Site, d: AlertDraft, source: str, at: dt.datetime) -> dict:
    """The validated row of one alert (INVALID_PARAMETER naming the field)."""
    if d.severity not in AlertSeverity.values:
        raise InvalidParameter(f"severity: one of {', '.join(AlertSeverity.values)}", field="severity")
    if source not in AlertSource.values:
        raise InvalidParameter(f"source: one of {', '.join(AlertSource.values)}", field="source")
    if d.miner is not None and d.miner.site_id != site.pk:
        raise InvalidParameter("miner: not at this site", field="miner_id")
    kind = required_text(d.kind, "kind", max_length=32)
    key = d.dedupe_key or default_dedupe_key(kind=kind, site=site, miner=d.miner, rule_id=d.rule_id)
    if len(key) > 200:
        raise InvalidParameter("dedupe_key: at most 200 characters", field="dedupe_key")
    return {
        "tenant": d.miner.tenant_id if d.miner is not None else None,
        "site": site.pk,
        "miner": d.miner.pk if d.miner is not None else None,
        "kind": kind,
        "severity": d.severity,
        "source": source,
        "title": required_text(d.title, "title", max_length=200),
        "details": d.details or {},
        "key": key,
        "at": at,
        "rule": d.rule_id,
    }


def default_dedupe_key(*, kind: str, site: Site, miner: Miner | None = None, rule_id: int | None = None) -> str:
    """`<kind>:<site code>:<miner id or ->[:rule:<id>]`: one live alert per kind and target (and rule)."""
    key = f"{kind}:{site.code}:{miner.miner_id if miner is not None else '-'}"
    return f"{key}:rule:{rule_id}" if rule_id is not None else key


def _audit(actor: Actor, verb: str, alert: Alert, payload: dict) -> None:
    audit(
        actor,
        f"hosting.alert.{verb}",
        alert,
        {"kind": alert.kind, "severity": alert.severity, "miner": alert.miner_id, **payload},
        tenant_id=alert.tenant_id,
        site_code=alert.site.code,
    )


@transaction.atomic
def alert_raise(
    *,
    site: Site,
    kind: str,
    title: str,
    severity: str = AlertSeverity.WARNING,
    source: str = AlertSource.SYSTEM,
    miner: Miner | None = None,
    details: dict | None = None,
    dedupe_key: str | None = None,
    rule_id: int | None = None,
    actor: Actor | None = None,
    user=None,
    now: dt.datetime | None = None,
) -> Alert:
    """Raise an alert, or return the live one with the same `dedupe_key`.

    - `site` always; `miner` for a miner alert (its current owner becomes the alert's tenant),
      None for a site alert (no tenant: a dark collector is one alert for the site, not one per miner);
    - `kind`: a short code (`collector_dark`, `miner_offline`, `overheat`, `zero_hashrate`, …);
    - `severity`: info / warning / critical; `source`: rule / system / operator;
    - `dedupe_key`: defaults to `default_dedupe_key(kind, site, miner, rule_id)`;
    - `user`: the operator raising it (checked for OPERATE at the site or miner); None for the
      system and the rule engine, whose `actor` defaults to Actor.system("hosting.alerts").

    The returned alert has `raised=True` when this call created it, False when it was live already.
    Safe under concurrency: two callers raising one key at once get one row."""
    require_operate(user, site=site, miner=miner)
    draft = AlertDraft(kind, title, miner, severity, details, dedupe_key, rule_id)
    params = _row(site, draft, source, now or timezone.now())
    params["details"] = orjson.dumps(params["details"]).decode()
    key, title = params["key"], params["title"]
    for _ in range(3):
        with connection.cursor() as cur:
            # A concurrent raise of the same key waits here for the other transaction, then does nothing.
            cur.execute(_INSERT_SQL, params)
            row = cur.fetchone()
        if row is not None:
            break
        live = Alert.objects.select_related("site").exclude(state=AlertState.RESOLVED).filter(dedupe_key=key).first()
        if live is not None:
            live.raised = False
            return live
        # The live one was resolved between our INSERT and this read: the key is free again, retry.
    else:
        raise Conflict(f"alert {key} keeps changing; try again", error_code="ALERT_BUSY")
    alert = Alert.objects.select_related("site").get(pk=row[0])
    alert.raised = True
    _audit(actor_for(actor, user, SYSTEM), "raised", alert, {"source": source, "dedupe_key": key, "title": title})
    return alert


_INSERT_MANY_SQL = """
INSERT INTO hosting_alert (tenant_id, site_id, miner_id, kind, severity, source, state, title, details,
                           dedupe_key, fired_at, rule_id)
SELECT r.tenant, r.site, r.miner, r.kind, r.severity, r.source, 'firing', r.title, r.details, r.key, r.at, r.rule
FROM jsonb_to_recordset(%s::jsonb) AS r(tenant int, site int, miner int, kind text, severity text, source text,
                                        title text, details jsonb, key text, at timestamptz, rule int)
ORDER BY r.key
ON CONFLICT (dedupe_key) WHERE NOT (state = 'resolved') DO NOTHING
RETURNING id
"""


@transaction.atomic
def alert_raise_many(
    *,
    site: Site,
    drafts: list[AlertDraft],
    source: str = AlertSource.SYSTEM,
    actor: Actor | None = None,
    now: dt.datetime | None = None,
) -> list[Alert]:
    """`alert_raise` for many alerts of one site by the system (the rule engine's pass): one INSERT …
    ON CONFLICT for all of them (in key order, so two concurrent passes cannot deadlock), one read of
    the keys already live, one audit append per chain. The alerts in the order given, each with
    `raised`; a draft repeating an earlier one's key gets the same alert."""
    at = now or timezone.now()
    rows: dict[str, dict] = {}
    keys: list[str] = []
    first: dict[str, AlertDraft] = {}
    for d in drafts:
        row = _row(site, d, source, at)
        keys.append(row["key"])
        rows.setdefault(row["key"], row)
        first.setdefault(row["key"], d)
    if not rows:
        return []
    with connection.cursor() as cur:
        # A concurrent raise of one of these keys waits here for the other transaction, then does nothing.
        cur.execute(_INSERT_MANY_SQL, [orjson.dumps(list(rows.values())).decode()])
        new_ids = {r[0] for r in cur.fetchall()}
    alerts = {a.dedupe_key: a for a in Alert.objects.select_related("site").filter(pk__in=new_ids)}
    for a in alerts.values():
        a.raised = True
    missing = [k for k in rows if k not in alerts]
    for a in Alert.objects.select_related("site").exclude(state=AlertState.RESOLVED).filter(dedupe_key__in=missing):
        a.raised = False
        alerts[a.dedupe_key] = a
    for key in (k for k in missing if k not in alerts):  # resolved between the INSERT and the read: alone
        d = first[key]
        alerts[key] = alert_raise(
            site=site,
            kind=d.kind,
            title=d.title,
            severity=d.severity,
            source=source,
            miner=d.miner,
            details=d.details,
            dedupe_key=key,
            rule_id=d.rule_id,
            actor=actor,
            now=at,
        )
    new = sorted((a for a in alerts.values() if a.pk in new_ids), key=lambda a: a.pk)
    audit_record_many(actor=actor_for(actor, None, SYSTEM), events=[_raised_event(a, source) for a in new])
    return [alerts[k] for k in keys]


def _raised_event(a: Alert, source: str) -> EventSpec:
    payload = {"kind": a.kind, "severity": a.severity, "miner": a.miner_id, "source": source}
    payload |= {"dedupe_key": a.dedupe_key, "title": a.title}
    return EventSpec("hosting.alert.raised", *entity_ref(a), payload, a.tenant_id, a.site.code)


def _move(alert: Alert, *, to: str, actor: Actor | None, user, reason: str, now) -> Alert:
    # Re-read locked: an acknowledge racing a resolve must not undo it.
    alert = Alert.objects.select_for_update(of=("self",)).select_related("site", "miner").get(pk=alert.pk)
    require_operate(user, site=alert.site, miner=alert.miner)
    frm = alert.state
    if to not in ALERT_TRANSITIONS[frm]:
        raise InvalidTransition(f"alert {alert.pk} cannot go from {frm} to {to}", alert_id=alert.pk, state=frm)
    now = now or timezone.now()
    alert.state = to
    fields = ["state"]
    if to == AlertState.ACKNOWLEDGED:
        alert.acknowledged_at, alert.acknowledged_by = now, user
        fields += ["acknowledged_at", "acknowledged_by"]
    else:
        alert.resolved_at = now
        fields.append("resolved_at")
    alert.save(update_fields=fields)
    verb = "acknowledged" if to == AlertState.ACKNOWLEDGED else "resolved"
    _audit(actor_for(actor, user, SYSTEM), verb, alert, {"from": frm, "to": to, "reason": (reason or "").strip()})
    return alert


@transaction.atomic
def alert_acknowledge(*, actor: Actor | None, user=None, alert: Alert, reason: str = "", now=None) -> Alert:
    """firing → acknowledged (someone is on it)."""
    return _move(alert, to=AlertState.ACKNOWLEDGED, actor=actor, user=user, reason=reason, now=now)


@transaction.atomic
def alert_resolve(*, actor: Actor | None, user=None, alert: Alert, reason: str = "", now=None) -> Alert:
    """firing / acknowledged → resolved; the key is free to raise again."""
    return _move(alert, to=AlertState.RESOLVED, actor=actor, user=user, reason=reason, now=now)


# --- the collector-dark job ------------------------------------------------------------------------


def _dark_key(collector: Collector) -> str:
    return f"{COLLECTOR_DARK}:{collector.site.code}:collector:{collector.pk}"


def collectors_dark_scan(*, now: dt.datetime | None = None) -> dict:
    """Raise one site alert per active collector whose last upload (IngestBatch.received_at) is older
    than TELEMETRY_STALE_SEC — the same threshold after which its miners show "unknown" and their
    minutes count as unmeasured — and resolve it once uploads resume. A collector that never
    uploaded is not dark (it was never measuring). Safe to run twice: raising is idempotent."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.TELEMETRY_STALE_SEC)
    actor = Actor.system("hosting.collectors_dark")
    last = IngestBatch.objects.filter(collector=OuterRef("pk"), received_at__lte=now).order_by("-received_at")
    collectors = (
        Collector.objects.select_related("site", "zone")
        .annotate(last_upload=Subquery(last.values("received_at")[:1]))
        .order_by("pk")
    )
    live = {a.dedupe_key: a for a in Alert.objects.filter(kind=COLLECTOR_DARK).exclude(state=AlertState.RESOLVED)}
    raised = resolved = 0
    for collector in collectors:
        key = _dark_key(collector)
        dark = collector.is_active and collector.last_upload is not None and collector.last_upload < cutoff
        if dark and key not in live:
            alert = alert_raise(
                site=collector.site,
                kind=COLLECTOR_DARK,
                title=f"Collector {collector} dark",
                severity=AlertSeverity.CRITICAL,
                source=AlertSource.SYSTEM,
                details={
                    "collector": collector.pk,
                    "collector_name": collector.name,
                    "zone": collector.zone.code if collector.zone is not None else None,
                    "last_upload": collector.last_upload.isoformat(),
                    "threshold_sec": settings.TELEMETRY_STALE_SEC,
                },
                dedupe_key=key,
                actor=actor,
                now=collector.last_upload + dt.timedelta(seconds=settings.TELEMETRY_STALE_SEC),
            )
            raised += int(alert.raised)
        elif not dark and key in live:
            with transaction.atomic():
                alert_resolve(actor=actor, alert=live[key], reason="uploads resumed", now=now)
            resolved += 1
    return {"collectors": len(collectors), "raised": raised, "resolved": resolved}
