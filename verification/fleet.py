"""A simulated farm that talks to the cloud exactly like the deployed edge collector.

COLLECTOR_PROTOCOL.md §2 is the contract: records with all 22 keys in the collector's order,
naive-UTC timestamps with microseconds, firmware types passed through (old bmminer sends
numbers as strings), counters mixed into `temperature_chips`/`fan_speeds`, empty pool fields in
`latest` cycles, offline miners reported once and then absent while the collector backs them
off (30 s doubling to 300 s), the packaged app's raw/latest schedule, gzip bodies, the upload
headers, and an offline spool whose chunks are re-sent byte for byte.

Used by `manage.py simulate_fleet` (demo traffic), `manage.py verify_telemetry_idempotency`
and bench/telemetry_ingest_bench.py. Deterministic for a seed and a sequence of cycle times:
per-miner values come from (seed, position in the fleet), so two fleets of the same size and seed
send the same figures under different miner ids.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass

RECORD_KEYS = (
    "miner_id",
    "timestamp",
    "online",
    "miner_key",
    "hashrate_ghs",
    "hashrate_5s_ghs",
    "temperature_avg",
    "temperature_max",
    "temperature_chips",
    "fan_speeds",
    "frequency_avg",
    "accepted_shares",
    "rejected_shares",
    "hardware_errors",
    "uptime_seconds",
    "power_consumption",
    "efficiency",
    "pool_url",
    "worker_name",
    "firmware_version",
    "error_type",
    "error_message",
)
LEGACY_PATH = "/api/collector/upload"
V1_PATH = "/api/edge/v1/telemetry/batch"
ENVELOPE_SCHEMA = "telemetry_envelope.v1"
MODES = ("legacy", "v1", "auto")

# Packaged-app defaults (COLLECTOR_PROTOCOL.md §0, §2.5, §2.6).
BACKOFF_BASE_SEC = 30
BACKOFF_MAX_SEC = 300
LATEST_MAX_MINERS = 2000
BATCH_SIZE = 1000
RETRY_INTERVAL_SEC = 300
OFFLINE_ERROR = "Connection failed (protocol=cgminer, timeout={timeout}s, attempts=1, retry_on_first_offline=False)"
MINER_TIMEOUT = {"raw": 5.0, "latest": 1.5}
MAX_CHIP_TEMP = 97  # stock firmware ignores the edge's `disable`, so a hot miner keeps climbing to its own cut-off


@dataclass(frozen=True)
class Profile:
    """What one model looks like through `summary`/`stats` (S21 figures copied from the captures)."""

    ths: float
    freq: float
    chains: int
    fans: int
    chip_temp: float  # typical hottest chip, °C
    fan_rpm: int
    shares_per_sec: float  # `Accepted` grows ≈ this fast (capture: 2,345,712 over 3,314,905 s)


PROFILES = {
    "S21": Profile(ths=200, freq=490.0, chains=3, fans=4, chip_temp=66, fan_rpm=3800, shares_per_sec=0.708),
    "S19XP": Profile(ths=141, freq=505.0, chains=3, fans=4, chip_temp=70, fan_rpm=4600, shares_per_sec=0.50),
    "M60S": Profile(ths=186, freq=560.0, chains=3, fans=2, chip_temp=74, fan_rpm=5400, shares_per_sec=0.66),
}
POOLS = ("stratum+tcp://btc.f2pool.com:1314", "stratum+tcp://ss.antpool.com:3333", "stratum+tcp://btc.viabtc.io:3333")


def format_ts(at: dt.datetime) -> str:
    """The collector's timestamp: naive UTC, always with microseconds, no zone."""
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def miner_key_for(site_code: str, miner_id: str) -> str:
    """A stable 26-char lowercase base32 key per miner, as the collector's binding store mints."""
    digest = hashlib.sha256(f"{site_code}/{miner_id}".encode()).digest()
    return base64.b32encode(digest).decode().lower()[:26]


@dataclass
class MinerSpec:
    miner_id: str
    model: str = "S21"
    nominal_ths: float | None = None
    miner_key: str = ""


@dataclass
class SimMiner:
    spec: MinerSpec
    profile: Profile
    miner_key: str
    ghs: float  # this unit's real hashrate
    chip_temp: float
    fan_rpm: int
    uptime0: int
    pool: str
    string_numbers: bool  # old bmminer: "GHS 5s" arrives as a string
    outage: tuple[float, float, float] | None  # (phase, duration, period) seconds after the fleet's start
    heating: tuple[float, float] | None  # (starts after, °C per minute)
    # the collector's back-off state for this miner
    skip_until: dt.datetime | None = None
    backoff: int = BACKOFF_BASE_SEC
    # what the cloud's commands changed (verification.edge_commands): hashing off, a fan duty, a clock
    hashing: bool = True
    fan_pct: int | None = None
    cooled: tuple[float, float] | None = None  # (since, from °C): the fan at ≥ 90 % pulls the heat back down
    freq: float | None = None
    restarted_at: float | None = None

    def hottest(self, elapsed: float) -> float:
        """The hottest chip's typical temperature now, before the per-sample jitter."""
        heat = 0.0
        if self.heating and elapsed > self.heating[0]:
            heat = (elapsed - self.heating[0]) / 60 * self.heating[1]
        if self.cooled is not None:  # 3 °C a minute down towards the unit's normal, and no further climb
            since, start = self.cooled
            return max(self.chip_temp, start - (elapsed - since) / 60 * 3.0)
        return min(MAX_CHIP_TEMP, self.chip_temp + heat)

    def is_down(self, elapsed: float) -> bool:
        if self.outage is None:
            return False
        phase, duration, period = self.outage
        return elapsed >= phase and (elapsed - phase) % period < duration


def fleet_specs(count: int, model: str = "S21") -> list[MinerSpec]:
    """`S21_0001` … the ids a standalone fleet uses when no inventory is given."""
    return [MinerSpec(miner_id=f"{model}_{n:04d}", model=model) for n in range(1, count + 1)]


class Fleet:
    """N miners of one site as the collector sees them; `cycle()` returns one cycle's records."""

    def __init__(
        self,
        site_code: str,
        miners: list[MinerSpec] | int,
        *,
        seed: int = 1,
        offline_share: float = 0.02,
        heating_share: float = 0.01,
        string_share: float = 0.05,
        latest_max_miners: int = LATEST_MAX_MINERS,
        start: dt.datetime | None = None,
    ):
        specs = fleet_specs(miners) if isinstance(miners, int) else list(miners)
        self.site_code = site_code
        self.seed = seed
        self.latest_max_miners = latest_max_miners
        self.start = start
        self.latest_cursor = 0
        self.cycles = 0
        self.miners = [self._make(i, spec, offline_share, heating_share, string_share) for i, spec in enumerate(specs)]

    def _make(
        self, index: int, spec: MinerSpec, offline_share: float, heating_share: float, string_share: float
    ) -> SimMiner:
        rng = random.Random(f"{self.seed}:{index}")
        profile = PROFILES.get(spec.model.upper(), PROFILES["S21"])
        ths = spec.nominal_ths or profile.ths
        outage = None
        if rng.random() < offline_share:
            # Down from a few minutes in, for 15–45 min, every 2 h: a flaky PSU, a tripped breaker.
            outage = (rng.uniform(0, 300), rng.uniform(900, 2700), 7200.0)
        heating = None
        if rng.random() < heating_share:
            heating = (rng.uniform(0, 120), rng.uniform(0.5, 1.5))  # clogged filter: climbs steadily
        return SimMiner(
            spec=spec,
            profile=profile,
            miner_key=spec.miner_key or miner_key_for(self.site_code, spec.miner_id),
            ghs=ths * 1000 * rng.uniform(0.975, 1.02),
            chip_temp=profile.chip_temp + rng.uniform(-3, 3),
            fan_rpm=int(profile.fan_rpm * rng.uniform(0.9, 1.12)),
            uptime0=rng.randint(3_600, 40 * 86_400),
            pool=POOLS[rng.randrange(len(POOLS))],
            string_numbers=rng.random() < string_share,
            outage=outage,
            heating=heating,
        )

    # --- one cycle --------------------------------------------------------------------------------

    def cycle(self, at: dt.datetime, mode: str = "raw") -> list[dict]:
        """Poll the miners due in a `raw` or `latest` cycle that starts at `at` (naive UTC)."""
        if mode not in MINER_TIMEOUT:
            raise ValueError(f"mode must be raw or latest, not {mode!r}")
        at = at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo else at
        if self.start is None:
            self.start = at
        rng = random.Random(f"{self.seed}/{self.cycles}/{mode}")
        self.cycles += 1
        if mode == "raw":
            polled = self.miners
        else:
            # A rolling window: 5,000 miners are covered in 2.5 latest cycles of 2,000.
            n = len(self.miners)
            size = min(self.latest_max_miners, n)
            polled = [self.miners[(self.latest_cursor + k) % n] for k in range(size)]
            self.latest_cursor = (self.latest_cursor + size) % max(n, 1)
        elapsed = (at - self.start).total_seconds()
        spread = max(len(polled) / 50 * 0.01, 0.01)  # 50 collection threads, ≈ 10 ms per poll
        out = []
        for miner in polled:
            if miner.skip_until is not None and at < miner.skip_until:
                continue  # backed off: absent from the upload, not an online:false row
            ts = at + dt.timedelta(seconds=rng.uniform(0, spread))
            if miner.is_down(elapsed):
                out.append((ts, self._offline(miner, ts, mode)))
                miner.skip_until = at + dt.timedelta(seconds=miner.backoff)
                miner.backoff = min(miner.backoff * 2, BACKOFF_MAX_SEC)
                continue
            miner.skip_until, miner.backoff = None, BACKOFF_BASE_SEC
            out.append((ts, self._online(miner, ts, mode, elapsed, rng)))
        # Threads finish out of order: the list is in completion order, close to but not exactly time order.
        out.sort(key=lambda pair: pair[0] + dt.timedelta(milliseconds=rng.uniform(0, 15)))
        return [record for _, record in out]

    def _offline(self, miner: SimMiner, ts: dt.datetime, mode: str) -> dict:
        return dict(
            zip(
                RECORD_KEYS,
                (
                    miner.spec.miner_id,
                    format_ts(ts),
                    False,
                    miner.miner_key,
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                    [],
                    [],
                    0.0,
                    0,
                    0,
                    0,
                    0,
                    0.0,
                    0.0,
                    "",
                    "",
                    "",
                    "",
                    OFFLINE_ERROR.format(timeout=MINER_TIMEOUT[mode]),
                ),
                strict=True,
            )
        )

    def _online(self, miner: SimMiner, ts: dt.datetime, mode: str, elapsed: float, rng: random.Random) -> dict:
        p = miner.profile
        hottest = min(MAX_CHIP_TEMP, miner.hottest(elapsed) + rng.uniform(-1, 1))
        # stats: temp_num, then (pcb, chip) per chain, then temp_max — all picked up by the collector.
        chips = [int(round(hottest)) - (p.chains - 1 - c) for c in range(p.chains)]
        temps = [p.chains]
        for chip in chips:
            temps += [chip - 14, chip]
        temp_max = max(chips)
        temps.append(temp_max)
        duty = miner.fan_pct / 70 if miner.fan_pct is not None else 1 + (hottest - miner.chip_temp) / 60
        rpm = miner.fan_rpm * duty
        fans = [p.fans] + [int(rpm * rng.uniform(0.97, 1.03)) for _ in range(p.fans)]
        if miner.restarted_at is not None:
            uptime = int(elapsed - miner.restarted_at)
        else:
            uptime = miner.uptime0 + int(elapsed)
        ghs = miner.ghs if miner.hashing else 0.0
        accepted = int(uptime * p.shares_per_sec * ghs / (p.ths * 1000))
        ghs_av = round(ghs * rng.uniform(0.997, 1.003), 2)
        ghs_5s = round(ghs * rng.uniform(0.975, 1.025), 2)
        if miner.string_numbers:
            ghs_5s = f"{ghs_5s:.2f}"
        raw = mode == "raw"
        return dict(
            zip(
                RECORD_KEYS,
                (
                    miner.spec.miner_id,
                    format_ts(ts),
                    True,
                    miner.miner_key,
                    ghs_av,
                    ghs_5s,
                    sum(temps) / len(temps),
                    temp_max,
                    temps,
                    fans,
                    miner.freq or p.freq,
                    accepted,
                    accepted * 3 // 2000,
                    accepted * 4 // 10000,
                    uptime,
                    0.0,
                    0.0,
                    miner.pool if raw else "",
                    f"farm1.{miner.spec.miner_id.lower()}" if raw else "",
                    "",
                    "",
                    "",
                ),
                strict=True,
            )
        )


# --- the packaged app's scheduler (§2.5) ---------------------------------------------------------


@dataclass
class Schedule:
    """Next raw = end of raw + raw_interval; next latest = end of latest + latest_interval, and a
    raw cycle pushes the next latest to at least its end + latest_interval. The first cycle is raw."""

    raw_interval: float = 60.0
    latest_interval: float = 30.0
    next_raw: float = 0.0
    next_latest: float = 0.0

    def due(self) -> tuple[float, str]:
        """(when, mode) of the next cycle; raw wins a tie."""
        return (self.next_raw, "raw") if self.next_raw <= self.next_latest else (self.next_latest, "latest")

    def done(self, mode: str, ended: float) -> None:
        if mode == "raw":
            self.next_raw = ended + self.raw_interval
            self.next_latest = max(self.next_latest, ended + self.latest_interval)
        else:
            self.next_latest = ended + self.latest_interval


def virtual_cycles(
    start: dt.datetime, end: dt.datetime, *, raw_interval: float = 60, latest_interval: float = 30
) -> Iterator[tuple[dt.datetime, str]]:
    """Cycle start times and modes between `start` and `end` (cycles taking no time)."""
    schedule = Schedule(raw_interval, latest_interval)
    while True:
        offset, mode = schedule.due()
        at = start + dt.timedelta(seconds=offset)
        if at >= end:
            return
        yield at, mode
        schedule.done(mode, offset)
