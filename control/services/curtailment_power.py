"""What a curtailment reads from telemetry: which miners to pick, and the kW actually shed.

The field collector reports no power (`power_consumption` is always 0.0 on the cgminer path,
COLLECTOR_PROTOCOL §1.1), so a miner's draw is estimated from what it does report: its
nameplate power scaled by its current hashrate against nominal (capped at 120 %), 0 when it
is offline, stale or not hashing. A disabled miner's idle draw (fans, control board) is
therefore not seen: the shed figure is an upper bound by that idle draw.

- the pick: miners in scope, online and hashing (live tier, fresh within TELEMETRY_STALE_SEC),
  highest estimated power first, until their sum reaches the target (all of scope if it never does);
- the baseline: the chosen miners' average estimated power over the CURTAILMENT_BASELINE_MIN
  minutes before the start (telemetry 1-minute tier; a miner without rows there counts with its
  power at the pick);
- the current draw: their latest live samples; shed = baseline − current."""

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from control.models import Curtailment
from telemetry.models import Telemetry1m, TelemetryLive
from telemetry.selectors import stale_cutoff
from tenants.models import Miner

MAX_SHARE = 1.2  # of nominal hashrate: an overclocked miner draws more, a broken reading not without bound
HASHING_SHARE = 0.05  # below 5 % of nominal a miner counts as not hashing (disable_hashing's verification)


def power_w(miner: Miner, hashrate_ghs: float | None) -> float:
    """Estimated draw of `miner` hashing at `hashrate_ghs` (W)."""
    nominal_w = miner.nominal_power_w or 0
    if not nominal_w or not hashrate_ghs or hashrate_ghs <= 0:
        return 0.0
    if not miner.nominal_hashrate_ths:
        return float(nominal_w)
    share = hashrate_ghs / (float(miner.nominal_hashrate_ths) * 1000)
    return round(nominal_w * min(share, MAX_SHARE), 1)


def _hashing(miner: Miner, hashrate_ghs: float | None) -> bool:
    if not hashrate_ghs or hashrate_ghs <= 0:
        return False
    if not miner.nominal_hashrate_ths:
        return True
    return hashrate_ghs >= HASHING_SHARE * float(miner.nominal_hashrate_ths) * 1000


def scope_miners(c: Curtailment):
    """The miners of the curtailment's scope (zone, group and list narrow it down), by pk."""
    qs = Miner.objects.filter(site_id=c.site_id)
    if c.zone_id:
        qs = qs.filter(zone_id=c.zone_id)
    if c.group_id:
        qs = qs.filter(groups=c.group_id)
    if c.miners:
        qs = qs.filter(pk__in=c.miners)
    return qs.order_by("pk")


@dataclass
class Pick:
    chosen: list[dict] = field(default_factory=list)
    not_chosen: dict[str, int] = field(default_factory=dict)
    expected_kw: float = 0.0
    scope_size: int = 0

    def skip(self, why: str) -> None:
        self.not_chosen[why] = self.not_chosen.get(why, 0) + 1


def pick(c: Curtailment, *, now: dt.datetime | None = None) -> Pick:
    """Choose the miners to disable for `c.target_kw` from their live samples."""
    now = now or timezone.now()
    miners = list(scope_miners(c))
    live = {r.miner_id: r for r in TelemetryLive.objects.filter(miner__in=[m.pk for m in miners])}
    fresh = stale_cutoff(now)
    candidates = []
    out = Pick(scope_size=len(miners))
    for m in miners:
        row = live.get(m.pk)
        if row is None or row.ts < fresh or not row.online:
            out.skip("offline or stale")
        elif not _hashing(m, row.hashrate_5s_ghs):
            out.skip("not hashing")
        elif not m.nominal_power_w:
            out.skip("no nominal power")
        else:
            candidates.append((power_w(m, row.hashrate_5s_ghs), m))
    candidates.sort(key=lambda pm: (-pm[0], pm[1].pk))  # highest draw first: the fewest miners touched
    total_w, target_w = 0.0, c.target_kw * 1000
    for rank, (watts, m) in enumerate(candidates, start=1):
        if total_w >= target_w:
            out.skip("target already reached")
            continue
        total_w += watts
        why = f"online, hashing ≈{watts:g} W; #{rank} by power"
        out.chosen.append({"miner": m.pk, "miner_id": m.miner_id, "power_w": watts, "why": why})
    out.expected_kw = round(total_w / 1000, 3)
    return out


def baseline_kw(c: Curtailment) -> float:
    """The chosen miners' average estimated draw over the minutes before the start (kW)."""
    ids = [row["miner"] for row in c.chosen]
    if not ids:
        return 0.0
    since = c.start_at - dt.timedelta(minutes=settings.CURTAILMENT_BASELINE_MIN)
    rows = Telemetry1m.objects.filter(site_id=c.site_id, miner_id__in=ids, bucket__gte=since, bucket__lt=c.start_at)
    sums = {
        r["miner_id"]: r
        for r in rows.values("miner_id").annotate(hashrate=Sum("hashrate_5s_sum"), samples=Sum("samples")).order_by()
    }
    miners = Miner.objects.in_bulk(ids)
    total = 0.0
    for row in c.chosen:
        m, agg = miners.get(row["miner"]), sums.get(row["miner"])
        if m is not None and agg and agg["samples"]:
            # offline samples carry no hashrate: dividing by all samples counts them as 0 W
            total += power_w(m, agg["hashrate"] / agg["samples"])
        else:
            total += row["power_w"]
    return round(total / 1000, 3)


def current_kw(c: Curtailment, *, now: dt.datetime | None = None) -> tuple[float, dt.datetime | None]:
    """The chosen miners' draw now, from their latest samples (a stale or offline one: 0 W)."""
    ids = [row["miner"] for row in c.chosen]
    fresh = stale_cutoff(now)
    miners = Miner.objects.in_bulk(ids)
    total, newest = 0.0, None
    for row in TelemetryLive.objects.filter(miner__in=ids):
        newest = row.ts if newest is None or row.ts > newest else newest
        if row.online and row.ts >= fresh:
            total += power_w(miners[row.miner_id], row.hashrate_5s_ghs)
    return round(total / 1000, 3), newest


@dataclass(frozen=True)
class Shed:
    baseline_kw: float | None
    current_kw: float | None
    shed_kw: float | None
    measured_at: dt.datetime | None


def curtailment_shed(c: Curtailment, *, now: dt.datetime | None = None) -> Shed:
    """kW shed: measured live while active, the stored figures once it has ended."""
    if c.state != "active":
        current = None if c.baseline_kw is None or c.shed_kw is None else round(c.baseline_kw - c.shed_kw, 3)
        return Shed(c.baseline_kw, current, c.shed_kw, c.measured_at)
    base = c.baseline_kw if c.baseline_kw is not None else baseline_kw(c)
    current, newest = current_kw(c, now=now)
    return Shed(base, current, round(base - current, 3), newest)
