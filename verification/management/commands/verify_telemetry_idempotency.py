"""Telemetry idempotency, checked from the outside (SPEC §5 "Replaying a batch after an outage
changes nothing").

Everything goes through the real HTTP endpoints with the collector's bytes. A scratch tenant,
collector and miners (all named idem-<hex>…) are created on the first run and reused afterwards;
each run mints a collector token and revokes it at the end. Three steps, each printing every
tier before and after:

1. the same batch sent N times (legacy list, then the same records as a v1 envelope): only the
   first send may change anything;
2. an "offline hour" played twice by two miner sets that report identical figures: set A
   delivered once, in order; set B partly delivered, then its spooled chunks re-sent out of order
   and overlapping, byte for byte. Every tier of B must end equal to A's;
3. all of A's chunks re-sent, shuffled: nothing may change.
"""

import contextlib
import datetime as dt
import importlib
import math
import random
import secrets
import sys
from dataclasses import dataclass

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test import override_settings

from audit.services import Actor
from telemetry.models import IngestBatch
from tenants.models import Collector, Miner, Site, Tenant
from tenants.services import (
    collector_token_create,
    collector_token_revoke,
    inventory_save,
    miners_register,
)
from verification.fleet import Fleet, MinerSpec, utcnow, virtual_cycles
from verification.server import LocalServer
from verification.uplink import Uplink, chunk_stream, records_of

ACTOR = Actor.system("verify_telemetry_idempotency")
# Bookkeeping that may legitimately differ between two deliveries of the same data: a bucket
# recomputed after late data is marked corrected with a revision count (SPEC §5).
NOT_COMPARED = {"revisions", "corrected"}
AGG = (
    "count(*) AS rows, coalesce(sum(samples), 0) AS samples, coalesce(sum(online_samples), 0) AS online_samples, "
    "coalesce(sum(hashrate_5s_sum), 0) AS h5s_sum, coalesce(sum(hashrate_5s_count), 0) AS h5s_count, "
    "max(hashrate_5s_max) AS h5s_max, "
    "coalesce(sum(temperature_max_sum), 0) AS tmax_sum, max(temperature_max_max) AS tmax_max, "
    "coalesce(sum(frequency_sum), 0) AS freq_sum, "
    "min(first_ts) AS first_ts, max(last_ts) AS last_ts, coalesce(sum(revision), 0) AS revisions, "
    "count(*) FILTER (WHERE corrected) AS corrected"
)
TIER_SQL = {
    "raw": (
        "SELECT count(*) AS rows, count(*) FILTER (WHERE online) AS online, "
        "coalesce(sum(hashrate_5s_ghs), 0) AS h5s_sum, coalesce(sum(temperature_max), 0) AS tmax_sum, "
        "min(ts) AS oldest, max(ts) AS newest "
        "FROM telemetry_raw "
        "WHERE site_id = %s AND miner_id = ANY(%s)"
    ),
    "1m": f"SELECT {AGG} FROM telemetry_1m WHERE site_id = %s AND miner_id = ANY(%s)",
    "live": (
        "SELECT count(*) AS rows, count(*) FILTER (WHERE online) AS online, "
        "coalesce(sum(hashrate_5s_ghs), 0) AS h5s_sum, coalesce(sum(temperature_max), 0) AS tmax_sum, "
        "min(ts) AS oldest, max(ts) AS newest "
        "FROM telemetry_live "
        "WHERE site_id = %s AND miner_id = ANY(%s)"
    ),
    "15m": f"SELECT {AGG} FROM telemetry_15m WHERE site_id = %s AND miner_id = ANY(%s)",
    "daily": f"SELECT {AGG} FROM telemetry_daily WHERE site_id = %s AND miner_id = ANY(%s)",
}


@dataclass
class Scratch:
    tag: str
    tenant: Tenant
    site: Site
    collector: Collector
    sets: dict  # name -> list[Miner], in fleet order


def _find_tag() -> str:
    anchor = Tenant.objects.filter(slug__regex=r"^idem-[0-9a-f]{6}$").order_by("pk").first()
    return anchor.slug if anchor else f"idem-{secrets.token_hex(3)}"


@transaction.atomic
def scratch_ensure(*, site_code: str = "", miners: int = 20) -> Scratch:
    """The scratch world: a tenant, site and collector created once and reused, and three fresh miner
    sets per run (R for repeats, A and B for the offline hour), all named idem-<hex>…, so no run
    sees another run's samples. With `site_code` the scratch miners and collector live on that
    site; counts only ever look at this run's scratch miners."""
    tag = _find_tag()
    run = secrets.token_hex(2)
    tenant = Tenant.objects.filter(slug=tag).first() or inventory_save(
        actor=ACTOR, obj=Tenant(slug=tag, name=f"{tag} idempotency check")
    )
    code = site_code or f"{tag}-SITE"
    site = Site.objects.filter(code=code).first()
    if site is None:
        site = inventory_save(actor=ACTOR, obj=Site(code=code, name=f"{tag} idempotency check"))
    collector = Collector.objects.filter(site=site, name=f"{tag}-edge").first() or inventory_save(
        actor=ACTOR, obj=Collector(site=site, name=f"{tag}-edge")
    )
    sets = {}
    for name in ("R", "A", "B"):
        ids = [f"{tag}-{run}-{name}-{n:04d}" for n in range(1, miners + 1)]
        miners_register(
            actor=ACTOR,
            site=site,
            tenant=tenant,
            rows=[{"miner_id": m, "model": "S21", "nominal_hashrate_ths": 200} for m in ids],
            reason="idempotency check",
        )
        by_id = {m.miner_id: m for m in Miner.objects.filter(site=site, miner_id__in=ids)}
        sets[name] = [by_id[m] for m in ids]
    return Scratch(tag=tag, tenant=tenant, site=site, collector=collector, sets=sets)


def _rollups():
    """The rollup service (15m and daily tiers), when the project has one."""
    try:
        return importlib.import_module("telemetry.rollups")
    except ModuleNotFoundError:
        return None


def rollups_run() -> bool:
    """Run the 15m and daily rollups as the periodic job does, until no closed bucket waits."""
    module = _rollups()
    if module is None:
        return False
    for run in (module.telemetry_rollup_15m, module.telemetry_rollup_daily):
        for _ in range(200):  # a dev database may have a backlog: each run closes at most 6 h / 1 day
            if not run().backlog:
                break
    return True


def snapshot(site: Site, miners: list[Miner]) -> dict:
    pks = [m.pk for m in miners]
    out = {}
    with connection.cursor() as cur:
        for tier, sql in TIER_SQL.items():
            cur.execute(sql, [site.pk, pks])
            names = [c.name for c in cur.description]
            out[tier] = dict(zip(names, cur.fetchone(), strict=True))
    return out


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)  # float sums may be added in another order
    return a == b


def diff(before: dict, after: dict, *, skip=NOT_COMPARED) -> list[str]:
    """'tier.metric: x → y' for every compared figure that differs."""
    out = []
    for tier, figures in before.items():
        for key, value in figures.items():
            if key not in skip and not _same(value, after[tier][key]):
                out.append(f"{tier}.{key}: {_fmt(value)} → {_fmt(after[tier][key])}")
    return out


def delta(before: dict, after: dict) -> dict:
    """after − before for counts and sums, the after value for the rest (times, maxima)."""
    out = {}
    for tier, figures in after.items():
        out[tier] = {}
        for key, value in figures.items():
            old = before[tier][key]
            if isinstance(value, int | float) and not isinstance(value, bool) and key not in ("h5s_max", "tmax_max"):
                out[tier][key] = value - (old or 0)
            else:
                out[tier][key] = value
    return out


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(value)


class Check:
    """Collects PASS/FAIL lines and prints tier figures."""

    def __init__(self, write):
        self.write = write
        self.failed = 0
        self.passed = 0

    def table(self, label: str, snap: dict) -> None:
        for tier, figures in snap.items():
            self.write(f"    {label:<14} {tier:<5} " + " ".join(f"{k}={_fmt(v)}" for k, v in figures.items()))

    def expect(self, ok: bool, text: str, details: list[str] = ()) -> bool:
        self.write(f"  {'PASS' if ok else 'FAIL'} {text}")
        for line in details[:12]:
            self.write(f"       {line}")
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok


def _send_all(uplink: Uplink, chunks) -> tuple[int, int, int, list[str]]:
    """POST each chunk; (accepted, duplicates, rejected, problems). A refused POST is a problem."""
    accepted = duplicates = rejected = 0
    problems = []
    for chunk in chunks:
        sent = uplink.send(chunk)
        if not sent.ok:
            problems.append(f"{chunk.path} answered {sent.status or 'nothing'} {sent.error} {sent.answer}"[:300])
        accepted += sent.count("accepted")
        duplicates += sent.count("duplicates")
        rejected += sent.count("rejected")
    return accepted, duplicates, rejected, problems


def idempotency_verify(
    *,
    base_url: str = "",
    site_code: str = "",
    miners: int = 20,
    repeat: int = 5,
    minutes: int = 60,
    seed: int = 7,
    write=print,
) -> bool:
    """Run the three steps; write what each tier holds before and after; True when all passed."""
    if repeat < 2:
        raise ValueError("repeat must be at least 2")
    scratch = scratch_ensure(site_code=site_code, miners=miners)
    token, plaintext = collector_token_create(actor=ACTOR, collector=scratch.collector, label="idempotency check")
    check = Check(write)
    rollups = _rollups() is not None
    write(
        f"idempotency check {scratch.tag} on site {scratch.site.code}: {miners} miners per set, rollups "
        f"{'on' if rollups else 'absent (15m/daily only read)'}"
    )
    now = utcnow().replace(microsecond=0)
    hour_end = now - dt.timedelta(minutes=15)  # replays arrive ≥ 5 min late
    hour_start = hour_end - dt.timedelta(minutes=minutes)
    try:
        # The check sends more uploads a minute than one healthy collector: in-process, the upload
        # throttle is lifted (this checks idempotency, not throttling); a --url server must allow it.
        lifted = override_settings(COLLECTOR_UPLOAD_RATE="") if not base_url else contextlib.nullcontext()
        with lifted, LocalServer() if not base_url else contextlib.nullcontext(base_url) as url:
            uplink = Uplink(url, token=plaintext, site_code=scratch.site.code, device_id=f"{scratch.tag}-device")
            try:
                _step_repeat(check, scratch, uplink, now, repeat, seed)
                a_chunks = _step_offline_hour(check, scratch, uplink, hour_start, hour_end, seed)
                _step_replay_reference(check, scratch, uplink, a_chunks, seed)
            finally:
                uplink.close()
    finally:
        collector_token_revoke(actor=ACTOR, token=token)
    verdict = "FAIL" if check.failed else "PASS"
    write(
        f"{verdict} telemetry idempotency scratch={scratch.tag} site={scratch.site.code} "
        f"checks={check.passed + check.failed} failed={check.failed} at={utcnow():%Y-%m-%dT%H:%M:%SZ}"
    )
    return not check.failed


def _fleet(scratch: Scratch, name: str, seed: int) -> Fleet:
    # Same seed and size: sets A and B report the same figures under different miner ids.
    specs = [MinerSpec(miner_id=m.miner_id, model="S21", nominal_ths=200) for m in scratch.sets[name]]
    return Fleet(scratch.site.code, specs, seed=seed, offline_share=0.1, heating_share=0.1)


def _snap(scratch: Scratch, name: str) -> dict:
    rollups_run()
    return snapshot(scratch.site, scratch.sets[name])


def _step_repeat(check: Check, scratch: Scratch, uplink: Uplink, now: dt.datetime, repeat: int, seed: int) -> None:
    check.write(f"step 1: the same batch sent {repeat} times as a legacy list, then {repeat} times as a v1 envelope")
    records = _fleet(scratch, "R", seed).cycle(now - dt.timedelta(minutes=3), "raw")
    legacy = uplink.chunks(records, mode="raw", api_mode="legacy", batch_size=len(records))
    envelope = uplink.chunks(records, mode="raw", api_mode="v1", batch_size=len(records), sent_at=now)
    before = _snap(scratch, "R")
    check.table("before", before)
    accepted, duplicates, rejected, problems = _send_all(uplink, legacy)
    first = _snap(scratch, "R")
    check.table("after 1 send", first)
    check.expect(not problems, "every upload answered 200 success", problems)
    check.expect(
        accepted == len(records) and rejected == 0,
        f"first send accepted {accepted}/{len(records)} records (rejected {rejected})",
    )
    added = first["raw"]["rows"] - before["raw"]["rows"]
    check.expect(added == len(records), f"first send stored {added} raw rows (expected {len(records)})")
    check.expect(
        first["live"]["rows"] == len({r["miner_id"] for r in records}),
        f"live holds one row per miner ({first['live']['rows']})",
    )
    receipts = IngestBatch.objects.filter(site=scratch.site).count()
    accepted, duplicates, rejected, problems = _send_all(uplink, legacy * (repeat - 1) + envelope * repeat)
    after = _snap(scratch, "R")
    check.table(f"after {2 * repeat} sends", after)
    sends = 2 * repeat - 1
    check.expect(not problems, "every re-send answered 200 success (else the collector spools it forever)", problems)
    check.expect(
        accepted == 0,
        f"re-sends accepted {accepted} records (expected 0), reported {duplicates} duplicates of "
        f"{sends * len(records)}",
    )
    check.expect(
        not diff(first, after, skip=()),
        f"{sends} re-sends changed nothing in raw, 1m, live, 15m, daily",
        diff(first, after, skip=()),
    )
    new_receipts = IngestBatch.objects.filter(site=scratch.site).count() - receipts
    check.expect(new_receipts == sends, f"each re-send left its receipt ({new_receipts}/{sends})")


def _step_offline_hour(
    check: Check, scratch: Scratch, uplink: Uplink, start: dt.datetime, end: dt.datetime, seed: int
) -> list:
    cycles = list(virtual_cycles(start, end))
    check.write(
        f"step 2: offline hour {start:%H:%M}–{end:%H:%M} UTC, {len(cycles)} cycles: "
        "set A delivered once in order (legacy); "
        "set B (same figures) partly delivered, then spooled chunks re-sent shuffled and overlapping (v1 envelopes)"
    )
    a_fleet, b_fleet = _fleet(scratch, "A", seed), _fleet(scratch, "B", seed)
    a_chunks = [c for _, _, chunks in chunk_stream(a_fleet, cycles, uplink, api_mode="legacy") for c in chunks]
    b_chunks = [c for _, _, chunks in chunk_stream(b_fleet, cycles, uplink, api_mode="v1") for c in chunks]
    n_records = sum(c.records for c in a_chunks)
    a_before, b_before = _snap(scratch, "A"), _snap(scratch, "B")
    check.table("A before", a_before)
    check.table("B before", b_before)

    accepted, _, rejected, problems = _send_all(uplink, a_chunks)
    check.expect(not problems, f"set A: {len(a_chunks)} uploads answered 200 success", problems)
    check.expect(accepted == n_records, f"set A: accepted {accepted}/{n_records} records (rejected {rejected})")

    rng = random.Random(seed)
    cut = len(b_chunks) // 3
    delivered = b_chunks[:cut]
    # The collector lost the answers of the last few uploads before the outage (stored, but it
    # spooled them), then spooled everything during it; replays come back byte-identical, in any order.
    spool = b_chunks[max(cut - 3, 0) :]
    replay = rng.sample(spool, len(spool))
    second = rng.sample(spool, len(spool) // 2)
    b_accepted, b_duplicates, b_rejected, problems = _send_all(uplink, delivered + replay + second)
    sends = len(delivered) + len(replay) + len(second)
    sent_records = sum(c.records for c in delivered + replay + second)
    check.expect(
        not problems,
        f"set B: {sends} uploads (incl. {len(replay) + len(second) - (len(b_chunks) - cut)} overlapping replays) "
        "answered 200 success",
        problems,
    )
    check.expect(
        b_accepted == n_records and b_duplicates == sent_records - n_records,
        f"set B: accepted {b_accepted}/{n_records}, duplicates {b_duplicates}/{sent_records - n_records} "
        f"(rejected {b_rejected})",
    )
    a_after, b_after = _snap(scratch, "A"), _snap(scratch, "B")
    check.table("A after", a_after)
    check.table("B after", b_after)
    a_delta, b_delta = delta(a_before, a_after), delta(b_before, b_after)
    check.expect(
        a_delta["raw"]["rows"] == n_records, f"set A stored {a_delta['raw']['rows']} raw rows (expected {n_records})"
    )
    # Identical figures under other ids: every tier of B must have moved exactly as A's did.
    differences = diff(a_delta, b_delta)
    check.expect(
        not differences,
        "set B (shuffled, overlapping replays) ends equal to set A (one in-order delivery) in every tier",
        differences,
    )
    return a_chunks


def _step_replay_reference(check: Check, scratch: Scratch, uplink: Uplink, a_chunks: list, seed: int) -> None:
    check.write(f"step 3: all {len(a_chunks)} uploads of set A re-sent, shuffled")
    before = _snap(scratch, "A")
    accepted, duplicates, _, problems = _send_all(uplink, random.Random(seed + 1).sample(a_chunks, len(a_chunks)))
    after = _snap(scratch, "A")
    check.table("before", before)
    check.table("after", after)
    check.expect(not problems, "every replay answered 200 success", problems)
    total = sum(len(records_of(c.body)) for c in a_chunks)
    check.expect(
        accepted == 0, f"replays accepted {accepted} records (expected 0), reported {duplicates} duplicates of {total}"
    )
    check.expect(
        not diff(before, after, skip=()),
        "the replay changed nothing in raw, 1m, live, 15m, daily",
        diff(before, after, skip=()),
    )


class Command(BaseCommand):
    help = (
        "Send the same telemetry batch N times and replay a shuffled, overlapping 'offline hour' "
        "through the real HTTP endpoints; print rows and aggregates of every tier before and after; "
        "PASS only when nothing changed that should not have, else exit 1. Uses a scratch tenant, "
        "collector and miners named idem-<hex>… (created once in this database, reused afterwards); "
        "each run mints a collector token and revokes it. --url must be a server on this same database "
        "whose COLLECTOR_UPLOAD_RATE allows the check's uploads (about 60 in a minute; empty = unlimited)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="", help="check a running server (default: start one in-process on a free port)"
        )
        parser.add_argument(
            "--site",
            default="",
            help="site code for the scratch miners and collector (default: a scratch site idem-<hex>-SITE)",
        )
        parser.add_argument("--miners", type=int, default=20, help="miners per scratch set (default 20)")
        parser.add_argument("--repeat", type=int, default=5, help="sends of the same batch per format (default 5)")
        parser.add_argument("--minutes", type=int, default=60, help="length of the offline window (default 60)")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, url="", site="", miners=20, repeat=5, minutes=60, seed=7, **options):
        if repeat < 2 or miners < 1 or minutes < 2:
            raise CommandError("--repeat ≥ 2, --miners ≥ 1, --minutes ≥ 2")
        ok = idempotency_verify(
            base_url=url,
            site_code=site,
            miners=miners,
            repeat=repeat,
            minutes=minutes,
            seed=seed,
            write=self.stdout.write,
        )
        if not ok:
            sys.exit(1)
