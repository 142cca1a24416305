import signal
import time
from dataclasses import dataclass, field

import requests
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from audit.services import Actor
from tenants.models import Collector, CollectorToken, Miner, Site
from tenants.services import collector_token_create, collector_token_revoke
from tenants.site_identity import site_by_code_or_alias
from verification.edge_commands import EdgeCommands
from verification.fleet import BATCH_SIZE, MODES, Fleet, MinerSpec, Schedule, utcnow
from verification.uplink import Spool, Uplink

ACTOR = Actor.system("simulate_fleet")


@dataclass
class SiteRun:
    site: Site
    fleet: Fleet
    uplink: Uplink
    schedule: Schedule
    spool: Spool = field(default_factory=Spool)
    token: CollectorToken | None = None  # minted by --create-token: revoked when the run ends
    cycles: int = 0
    commands: EdgeCommands | None = None  # --commands: the collector's poll / execute / ACK side
    next_poll: float = 0.0


def _cycles(value: str) -> int:
    if value == "forever":
        return 0
    try:
        n = int(value)
    except ValueError:
        raise CommandError("--cycles takes a number or 'forever'") from None
    if n < 1:
        raise CommandError("--cycles must be at least 1")
    return n


class Command(BaseCommand):
    help = (
        "Play a simulated farm (the site's registered miners) and upload its telemetry through the real "
        "HTTP endpoints exactly as the edge collector does: its headers, gzip bodies, raw and latest "
        "cycles, chunks of --batch-size, offline miners backed off, failed chunks spooled and re-sent. "
        "Prints one line per cycle."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--site",
            action="append",
            required=True,
            help="site code or alias, sent as X-Site-ID and envelope site_id; repeat for several sites",
        )
        parser.add_argument(
            "--miners", type=int, default=0, help="simulate the first N registered miners of each site (default: all)"
        )
        parser.add_argument("--token", default="", help="collector token of the site (one --site only)")
        parser.add_argument(
            "--create-token",
            action="store_true",
            help="mint a token for the site's collector (audited); revoked when the run ends",
        )
        parser.add_argument(
            "--collector", default="", help="collector name for --create-token (default: the site's only collector)"
        )
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="cloud base URL")
        parser.add_argument(
            "--mode", choices=MODES, default="legacy", help="telemetry_api_mode of the collector (default legacy)"
        )
        parser.add_argument("--interval", type=float, default=60, help="raw cycle interval, seconds (default 60)")
        parser.add_argument(
            "--latest-interval", type=float, default=0, help="latest cycle interval (default: half of --interval)"
        )
        parser.add_argument("--cycles", default="forever", help="number of cycles per site, or 'forever' (default)")
        parser.add_argument("--offline-share", type=float, default=0.02)
        parser.add_argument("--heating-share", type=float, default=0.01)
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--demo-heater",
            action="store_true",
            help="one miner per site starts overheating a minute in (+2.5 °C a minute): the demo's rule story",
        )
        parser.add_argument(
            "--commands",
            action="store_true",
            help="also poll the cloud's commands, carry them out on the simulated miners and ACK them",
        )
        parser.add_argument(
            "--command-poll-interval", type=float, default=5, help="seconds between command polls (default 5)"
        )
        parser.add_argument(
            "--command-mode", choices=MODES, default="auto", help="command_api_mode of the collector (default auto)"
        )
        parser.add_argument(
            "--wait-ready",
            type=float,
            default=0,
            help="first wait up to this many seconds for <url>/ready to answer 200",
        )

    def handle(self, *args, **o):
        sites, max_cycles = o["site"], _cycles(o["cycles"])
        if o["token"] and (o["create_token"] or len(sites) > 1):
            raise CommandError("--token works with one --site and without --create-token")
        if not o["token"] and not o["create_token"]:
            raise CommandError("give --token or --create-token")
        latest_interval = o["latest_interval"] or o["interval"] / 2
        if o["wait_ready"]:
            self._wait_ready(o["url"], o["wait_ready"])
        runs = []
        stop = _Stop()
        try:
            for code in sites:
                runs.append(self._prepare(code, o, latest_interval))
            if not connections["default"].in_atomic_block:
                connections.close_all()  # nothing touches the database between setup and the end
            self._loop(runs, o, max_cycles, stop)
        finally:
            stop.restore()
            for run in runs:
                run.uplink.close()
                if run.token is not None:
                    collector_token_revoke(actor=ACTOR, token=run.token)
            for run in runs:
                self.stdout.write(
                    f"{run.site.code}: {run.cycles} cycles, spool {len(run.spool)} pending, "
                    f"{run.spool.given_up} given up"
                )

    def _wait_ready(self, url: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if requests.get(url.rstrip("/") + "/ready", timeout=3).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise CommandError(f"{url}/ready did not answer 200 within {seconds:.0f} s")
            time.sleep(1)

    def _prepare(self, code: str, o: dict, latest_interval: float) -> SiteRun:
        # A site alias plays a collector configured with that site_id (what it sends on the wire).
        site = site_by_code_or_alias(code)
        if site is None:
            raise CommandError(f"no site with code or alias {code!r}")
        qs = (
            Miner.objects.filter(site=site)
            .order_by("miner_id")
            .values_list("miner_id", "model", "nominal_hashrate_ths", "miner_key")
        )
        rows = list(qs[: o["miners"]] if o["miners"] else qs)
        if not rows:
            raise CommandError(f"site {code} has no registered miners")
        specs = [
            MinerSpec(miner_id=m, model=model or "S21", nominal_ths=float(ths) if ths else None, miner_key=key)
            for m, model, ths, key in rows
        ]
        token_obj, token = None, o["token"]
        if o["create_token"]:
            collector = self._collector(site, o["collector"])
            token_obj, token = collector_token_create(actor=ACTOR, collector=collector, label="simulate_fleet")
        fleet = Fleet(code, specs, seed=o["seed"], offline_share=o["offline_share"], heating_share=o["heating_share"])
        if o["demo_heater"]:
            heater = fleet.miners[min(7, len(fleet.miners) - 1)]
            heater.heating, heater.outage = (60.0, 2.5), None  # past 85 °C some 9 minutes in
            self.stdout.write(f"{code}: {heater.spec.miner_id} overheats from a minute in (--demo-heater)")
        uplink = Uplink(o["url"], token=token, site_code=code, device_id=f"sim-{code.lower()}-{o['seed']}")
        self.stdout.write(
            f"{code}: {len(specs)} miners, {o['mode']} mode, raw every {o['interval']:g} s, latest every "
            f"{latest_interval:g} s → {o['url']}"
        )
        commands = EdgeCommands(fleet, uplink, api_mode=o["command_mode"]) if o["commands"] else None
        return SiteRun(
            site=site,
            fleet=fleet,
            uplink=uplink,
            schedule=Schedule(o["interval"], latest_interval),
            token=token_obj,
            commands=commands,
        )

    def _collector(self, site: Site, name: str) -> Collector:
        if name:
            found = Collector.objects.filter(site=site, name=name).first()
            if found is None:
                raise CommandError(f"site {site.code} has no collector {name!r}")
            return found
        found = list(Collector.objects.filter(site=site, is_active=True)[:2])
        if len(found) != 1:
            raise CommandError(
                f"site {site.code} has {len(found) or 'no'} active collectors: name one with --collector"
            )
        return found[0]

    def _loop(self, runs: list[SiteRun], o: dict, max_cycles: int, stop: "_Stop") -> None:
        origin = time.monotonic()
        while not stop.requested:
            active = [r for r in runs if not max_cycles or r.cycles < max_cycles]
            if not active:
                return
            run = min(active, key=lambda r: r.schedule.due()[0])
            due, mode = run.schedule.due()
            polling = [r for r in active if r.commands is not None and r.cycles and r.next_poll < due]
            if polling:  # a command poll comes before the next upload cycle
                run = min(polling, key=lambda r: r.next_poll)
                due, mode = run.next_poll, "poll"
            wait = origin + due - time.monotonic()
            if wait > 0:
                stop.sleep(wait)
                continue
            if mode == "poll":
                self._poll(run)
                run.next_poll = time.monotonic() - origin + o["command_poll_interval"]
                continue
            self._cycle(run, mode, o)
            run.schedule.done(mode, time.monotonic() - origin)
            if run.commands is not None and run.cycles == 1:
                run.next_poll = time.monotonic() - origin

    def _cycle(self, run: SiteRun, mode: str, o: dict) -> None:
        started = time.monotonic()
        records = run.fleet.cycle(utcnow(), mode)
        chunks = run.uplink.chunks(records, mode=mode, api_mode=o["mode"], batch_size=o["batch_size"])
        sent = []
        for chunk in chunks:
            result = run.uplink.send(chunk)
            sent.append(result)
            if not result.ok:
                run.spool.add(chunk)
        replayed = []
        for chunk in run.spool.due(time.monotonic()):
            result = run.uplink.send(chunk)
            run.spool.result(chunk, result.ok)
            replayed.append(result)
        run.cycles += 1
        self.stdout.write(self._line(run, mode, records, sent, replayed, time.monotonic() - started))
        self.stdout.flush()

    def _poll(self, run: SiteRun) -> None:
        assert run.commands is not None
        got = run.commands.poll_round()
        if got.polled or got.error:
            acked = " ".join(f"{status}={n}" for status, n in sorted(got.acked.items()))
            error = f" ERROR {got.error}" if got.error else ""
            self.stdout.write(f"{utcnow():%H:%M:%S} {run.site.code} commands={got.polled} {acked}{error}")
            self.stdout.flush()

    def _line(self, run: SiteRun, mode: str, records: list, sent: list, replayed: list, took: float) -> str:
        every = sent + replayed
        offline = sum(1 for r in records if not r["online"])
        latencies = sorted(s.latency for s in sent) or [0.0]
        failed = [s for s in every if not s.ok]
        text = (
            f"{utcnow():%H:%M:%S} {run.site.code} #{run.cycles} {mode:<6} records={len(records)} offline={offline} "
            f"chunks={len(sent)} uploaded={sum(s.chunk.records for s in sent if s.ok)} "
            f"accepted={sum(s.count('accepted') for s in every)} rejected={sum(s.count('rejected') for s in every)} "
            f"duplicates={sum(s.count('duplicates') for s in every)} "
            f"latency={latencies[len(latencies) // 2] * 1000:.0f}ms max={latencies[-1] * 1000:.0f}ms cycle={took:.1f}s"
        )
        if replayed:
            text += f" replayed={len(replayed)}"
        if failed:
            first = failed[0]
            text += f" FAILED={len(failed)} ({first.status or 'no answer'} {first.error}) spool={len(run.spool)}"
        return text


class _Stop:
    """SIGTERM (honcho, docker) ends the loop like Ctrl-C, so minted tokens are revoked on the way out."""

    def __init__(self):
        self.requested = False
        self._previous = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (tests calling the command from a thread)
                pass

    def _handle(self, signum, frame):
        self.requested = True

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.requested and time.monotonic() < end:
            time.sleep(min(0.2, end - time.monotonic()))

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
