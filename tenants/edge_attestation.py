"""Whether mTLS and the source-network allowlist were on at a site over a day or any period, read
back from the site's audit chain (SPEC §4, §8): for a customer's auditor, by
`manage.py security_attestation` and in the evidence pack.

The state at the start is the one the last change before it recorded; with no change before it
(none made, or purged by retention), the state the first change inside or after it found
("previous"); with no change at all since, the site's settings now — every change is audited, so
nothing else can have moved them. Each change is listed with its seq and hash."""

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.utils import timezone

from audit.models import AuditEvent
from audit.services import chain_key_for
from audit.verify import verify_chains
from tenants.edge_security import CERTIFICATE_ACTIONS, SECURITY_ACTIONS, edge_security_of
from tenants.models import Site


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Change:
    seq: int
    hash: str
    at: dt.datetime
    action: str
    actor: str
    state: dict  # after the change (security) or what it concerns (certificates)

    def as_dict(self) -> dict:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "occurred_at": _iso(self.at),
            "action": self.action,
            "actor": self.actor,
            "state": self.state,
        }


def _allowlist_label(networks) -> str:
    return f"on ({len(networks)} network{'s' if len(networks) != 1 else ''})" if networks else "off"


@dataclass
class Attestation:
    site: Site
    start: dt.datetime
    end: dt.datetime
    span: str  # "day" or "period"
    chain: str
    initial: dict
    initial_basis: str
    changes: list[Change] = field(default_factory=list)
    certificate_changes: list[Change] = field(default_factory=list)
    verification: str = ""
    now: dt.datetime | None = None

    @property
    def until(self) -> dt.datetime:
        return min(self.end, self.now) if self.now else self.end

    def _periods(self, label) -> list[tuple[dt.datetime, dt.datetime, str]]:
        periods: list[list] = [[self.start, self.until, label(self.initial)]]
        for change in self.changes:
            if change.at >= self.until:
                break
            value = label(change.state)
            if value != periods[-1][2]:
                periods[-1][1] = change.at
                periods.append([change.at, self.until, value])
        return [(a, b, v) for a, b, v in periods if b > a or len(periods) == 1]

    def _statement(self, name: str, label) -> str:
        periods = self._periods(label)
        whole = "day" if self.span == "day" else "period"
        if len(periods) == 1:
            suffix = "" if self.until == self.end else f" (up to now, {_iso(self.until)})"
            return f"{name}: {periods[0][2]} for the whole {whole}{suffix}"
        return f"{name}: " + "; ".join(f"{v} from {_iso(a)} to {_iso(b)}" for a, b, v in periods)

    @property
    def mtls_statement(self) -> str:
        return self._statement("mTLS", lambda s: "on" if s["mtls_required"] else "off")

    @property
    def allowlist_statement(self) -> str:
        return self._statement("Source-network allowlist", lambda s: _allowlist_label(s["source_networks"]))

    def lines(self, *, detail: bool = True) -> list[str]:
        """The statement; without `detail` (a customer's pack) no networks, collectors or fingerprints."""
        out = [
            f"Security attestation for site {self.site.code} ({self.site.name})",
            f"{self.span.capitalize()}: {_iso(self.start)} to {_iso(self.end)} (site time zone {self.site.timezone})",
            f"Source: audit chain {self.chain}",
            self.mtls_statement,
            self.allowlist_statement,
            f"State at the start: mTLS {'on' if self.initial['mtls_required'] else 'off'}, allowlist "
            f"{_allowlist_label(self.initial['source_networks'])} — {self.initial_basis}",
        ]
        out.append(f"Changes during the {self.span}: {len(self.changes) or 'none'}")
        for c in self.changes:
            networks = c.state["source_networks"]
            listed = f" [{', '.join(networks)}]" if detail and networks else ""
            out.append(
                f"  seq {c.seq} at {_iso(c.at)} {c.action} by {c.actor}: mTLS "
                f"{'on' if c.state['mtls_required'] else 'off'}, allowlist {_allowlist_label(networks)}{listed} "
                f"hash {c.hash}"
            )
        out.append(f"Client certificate changes during the {self.span}: {len(self.certificate_changes) or 'none'}")
        for c in self.certificate_changes:
            what = f"collector {c.state.get('collector')} sha256 {c.state.get('fingerprint_sha256')} " if detail else ""
            out.append(f"  seq {c.seq} at {_iso(c.at)} {c.action} by {c.actor}: {what}hash {c.hash}")
        out.append(f"Chain verification over the {self.span}: {self.verification}")
        return out

    def as_dict(self) -> dict:
        return {
            "site": self.site.code,
            "span": self.span,
            "from": _iso(self.start),
            "to": _iso(self.end),
            "chain": self.chain,
            "mtls": self.mtls_statement,
            "allowlist": self.allowlist_statement,
            "initial": {**self.initial, "basis": self.initial_basis},
            "changes": [c.as_dict() for c in self.changes],
            "certificate_changes": [c.as_dict() for c in self.certificate_changes],
            "verification": self.verification,
        }


def _state(payload: dict) -> dict:
    return {"mtls_required": bool(payload.get("mtls_required")), "source_networks": payload.get("source_networks", [])}


def _change(event: AuditEvent) -> Change:
    return Change(event.seq, event.hash, event.occurred_at, event.action, event.actor_label or event.actor_id, {})


def day_bounds(site: Site, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The site's calendar day, in its own time zone."""
    tz = ZoneInfo(site.timezone or "UTC")
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return start, dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)


def security_attestation(*, site: Site, start: dt.datetime, end: dt.datetime, span: str = "period") -> Attestation:
    key = chain_key_for(site_code=site.code)
    events = AuditEvent.objects.filter(chain_key=key)
    security = events.filter(action__in=SECURITY_ACTIONS)
    before = security.filter(occurred_at__lt=start).order_by("-seq").first()
    if before is not None:
        initial = _state(before.payload)
        basis = f"as set by seq {before.seq} at {_iso(before.occurred_at)} hash {before.hash}"
    elif (after := security.filter(occurred_at__gte=start).order_by("seq").first()) is not None:
        initial = _state(after.payload.get("previous", {}))
        basis = f"as found by the first change since, seq {after.seq} hash {after.hash}"
    else:
        sec = edge_security_of(site)
        initial = {"mtls_required": sec.mtls_required, "source_networks": list(sec.source_networks)}
        basis = "no change recorded in the chain before or since: the site's settings now"
    att = Attestation(site, start, end, span, key, initial, basis, now=timezone.now())
    inside = events.filter(occurred_at__gte=start, occurred_at__lt=end).order_by("seq")
    for event in inside.filter(action__in=SECURITY_ACTIONS):
        change = _change(event)
        change.state = _state(event.payload)
        att.changes.append(change)
    for event in inside.filter(action__in=CERTIFICATE_ACTIONS):
        change = _change(event)
        change.state = {k: event.payload.get(k) for k in ("collector", "fingerprint_sha256", "not_after")}
        att.certificate_changes.append(change)
    result = verify_chains([key], since=start, until=end)[0]
    att.verification = (
        f"PASS ({result.events} events)"
        if result.ok
        else f"FAIL ({len(result.breaks)} breaks: {result.breaks[0].line()})"
    )
    return att
