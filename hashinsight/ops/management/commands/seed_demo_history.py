"""manage.py seed_demo_history: a month of believable history for the demo that seed_demo loads.

For SITE-ACC and SITE-BRV and all their miners it writes, set-based (generate_series in SQL, a few
seconds per 100k samples):

- telemetry: a sample per miner every 5 minutes into the 1m tier, rolled up into 15m and daily,
  a live row per miner, and an upload receipt per site every minute;
- downtime of every cause: random outages (offline) and stuck hashboards (online, zero hashrate);
  a demand-response curtailment of one zone; a one-off zone maintenance window and a weekly one for
  one miner (MaintenanceWindow rows); operator reboots (one needing a second attempt) and a
  disable/enable pair, with their attempts, which the intervals link to; a collector dark for
  3.5 hours (no uploads, no samples: unmeasured); three miners moved from Acme to Blue River
  mid-month (their past stays Acme's); a miner still down now (an open interval);
- alerts (firing, acknowledged, resolved) and work orders in every state with public and internal
  comments;
- a consent policy letting the customer tenants propose reboots, and one such proposal by Acme's
  customer waiting for the NOC (hashinsight.demo.consent).

Alerts, work orders, commands and maintenance windows are created directly through the models
(hashinsight.demo.events), with their historical timestamps: the services act at "now" (and
hosting's alert and work-order services are still being written). Then the downtime pass is run
over the month (downtime_rebuild's loop) and the watermarks left where the beat jobs go on.

Idempotent: the upload receipts it writes carry device_id "demo-history"; when they exist the
command loads no history (`--if-empty` says so quietly, as `make seed` runs it every time) and only
adds the consent policies to a demo that has none (a demo loaded before they existed).
"""

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from hashinsight.demo import events
from hashinsight.demo.consent import demo_consent_seed
from hashinsight.demo.plan import plan_create, random_outages
from hashinsight.demo.tiers import DEVICE, tiers_write
from hosting.models import DowntimeInterval
from hosting.services.downtime import downtime_pass
from telemetry.models import IngestBatch, Telemetry1m
from tenants.models import Miner, Site

SITES = ("SITE-ACC", "SITE-BRV")
PASS_STEP = dt.timedelta(hours=24)
MIN_MINERS = 30


def _passes(site: Site, plan, *, close: bool = False) -> None:
    """The downtime pass over the month, a day at a time (downtime_rebuild's loop); the last one
    reaches "now" and leaves the site's watermark there for the beat job."""
    try:
        at = plan.start
        while at < plan.end:
            stop = min(at + PASS_STEP, plan.end + PASS_STEP)
            downtime_pass(site=site, start=at, end=stop)
            at = stop
    finally:
        if close:  # a worker thread's own connection
            connection.close()


class Command(BaseCommand):
    help = (
        "Load a month of demo history (telemetry, downtime of every cause, alerts, work orders) for the "
        "sites seed_demo created, then compute the downtime intervals. Run after seed_demo."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30, help="days of history before today (default 30)")
        parser.add_argument("--if-empty", action="store_true", help="do nothing when the history is already loaded")

    def handle(self, *args, days=30, if_empty=False, **options):
        sites = list(Site.objects.filter(code__in=SITES).order_by("code"))
        if len(sites) != len(SITES):
            raise CommandError("no demo sites: run `manage.py seed_demo` first")
        if days < 7:
            raise CommandError("--days: at least 7 (the scenario spreads over weeks)")
        if any(Miner.objects.filter(site=s).count() < MIN_MINERS for s in sites):
            raise CommandError(f"the scenario needs at least {MIN_MINERS} miners per demo site")
        if IngestBatch.objects.filter(site__in=sites, device_id=DEVICE).exists():
            (self.stdout if if_empty else self.stderr).write("demo history already loaded")
            self._consent()  # a demo loaded before the demo had proposals gets them now
            return
        started = time.perf_counter()
        first = Telemetry1m.objects.filter(site__in=sites).aggregate(first=Min("bucket"))["first"]
        plan = plan_create(now=timezone.now(), days=days, first_sample=first)
        with transaction.atomic():
            world = events.world_load(*sites)
            events.ownership_backdate(world, plan)
            windows = events.maintenance_create(world, plan)
            commands = events.commands_create(world, plan)
            alerts, _ = events.incidents_create(world, plan)
            random_outages(plan, [m.pk for ms in world.miners.values() for m in ms])
            counts = tiers_write(plan, [s.pk for s in sites])
            counts |= {"maintenance_windows": len(windows), "commands": len(commands), "alerts": len(alerts)}
            events.history_audit(world, plan, counts)
        loaded = time.perf_counter() - started
        self.stdout.write(
            f"Demo history {plan.start:%Y-%m-%d}..{plan.end:%Y-%m-%d %H:%M}Z: {counts['1m']} 1m samples, "
            f"{counts['15m']} 15m, {counts['daily']} daily, {counts['receipts']} receipts, "
            f"{len(windows)} maintenance windows, {len(commands)} commands ({loaded:.1f} s)"
        )
        if connection.in_atomic_block:  # called inside a transaction (tests): other connections would not see it
            for site in sites:
                _passes(site, plan)
        else:  # one thread (and database connection) per site: the sites' passes are independent
            with ThreadPoolExecutor(max_workers=len(sites)) as pool:
                list(pool.map(lambda site: _passes(site, plan, close=True), sites))
        intervals = DowntimeInterval.objects.filter(site__in=sites).count()
        self.stdout.write(f"Downtime intervals: {intervals} ({time.perf_counter() - started:.1f} s in all)")
        for site in sites:
            _demo_rule(site)
        self.stdout.write(
            "Demo rule 'Overheat' at each site (docs/RULES.md): the simulator's heating miners get set_fan 100,"
            " proposed for approval in the admin (Commands)"
        )
        self._consent()

    def _consent(self) -> None:
        with transaction.atomic():
            for line in demo_consent_seed():
                self.stdout.write(line)


def _demo_rule(site) -> None:
    """One thermal rule per demo site, so `make run` with the simulator shows the engine at work."""
    from audit.services import Actor
    from rules.models import Rule
    from rules.services.definitions import rule_create

    if Rule.objects.filter(site=site, name="Overheat").exists():
        return
    rule_create(
        actor=Actor.system("seed_demo_history"),
        user=None,
        site=site,
        name="Overheat",
        metric="temp_max",
        op="gt",
        threshold=85,
        clear_threshold=75,
        consecutive_samples=3,
        cooldown_sec=900,
        command_type="set_fan",
        params={"speed": 100},
        recovery_command_type="set_fan",
        recovery_params={"speed": 70},
        priority_class=40,
        approval_required=True,  # the demo's story: caught → proposed → approved by the NOC → executed → verified
    )
