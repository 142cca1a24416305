"""Reading the original application's PostgreSQL database (read-only, with psycopg2).

Only the tables and columns the import needs, by the names the original's SQLAlchemy models
give them (docs/COMPATIBILITY.md, "Import the original database", lists them). Its timestamps are
naive UTC (it wrote datetime.utcnow()); they are read as UTC.
"""

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2
import psycopg2.extras

from tenants.switchover import SourceCustomer, SourceKey, SourceMiner, SourceSite

_ZONE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.]{0,63})[-/ ]")


def zone_of(rack_position: str | None) -> str:
    """The zone of a rack position: its first segment ("B-04-12" → "B"). The original has no zone
    table; its rack positions are how a hall or row is named. "" when there is no such segment."""
    match = _ZONE.match((rack_position or "").strip())
    return match.group(1) if match else ""


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@dataclass(frozen=True)
class TelemetrySource:
    """One of the original's telemetry tables, read as the same columns."""

    table: str
    select: str  # id, site_id, serial, ts, online, hashrate_ghs, temperature_avg, temperature_max, fan, accepted,
    # rejected, pool_url, worker_name — filtered by {where} and ordered by id
    ts_column: str


TELEMETRY_SOURCES = (
    # What the original's collector API wrote for every miner of every upload.
    TelemetrySource(
        "miner_telemetry_history",
        'SELECT id, site_id, miner_id, "timestamp", coalesce(online, hashrate_ghs > 0), hashrate_ghs, '
        "temperature_avg, temperature_max, fan_speed_avg, accepted_shares, rejected_shares, '', '' "
        "FROM miner_telemetry_history t WHERE {where} ORDER BY id",
        '"timestamp"',
    ),
    # The older per-hosting-miner table (hashrate in TH/s).
    TelemetrySource(
        "miner_telemetry",
        "SELECT t.id, m.site_id, m.serial_number, t.recorded_at, coalesce(t.hashrate > 0, false), "
        "t.hashrate * 1000, t.temperature, t.temperature, t.fan_speed, t.accepted_shares, t.rejected_shares, "
        "coalesce(t.pool_url, ''), coalesce(t.pool_worker, '') "
        "FROM miner_telemetry t JOIN hosting_miners m ON m.id = t.miner_id WHERE {where} ORDER BY t.id",
        "t.recorded_at",
    ),
)


@dataclass(frozen=True)
class Sample:
    id: int
    site_id: int
    serial: str
    ts: dt.datetime
    fields: dict


def _sample(row) -> Sample:
    sid, site_id, serial, ts, online, hashrate, t_avg, t_max, fan, accepted, rejected, pool, worker = row
    fields = {
        "online": bool(online),
        "hashrate_ghs": hashrate,
        "hashrate_5s_ghs": hashrate,  # the original kept one hashrate figure per sample
        "temperature_avg": t_avg,
        "temperature_max": t_max,
        "frequency_avg": None,
        "fan_speeds": [int(fan)] if fan else [],
        "temperature_chips": [],
        "accepted_shares": accepted,
        "rejected_shares": rejected,
        "hardware_errors": None,
        "uptime_seconds": None,
        "pool_url": pool or "",
        "worker_name": worker or "",
        "error_message": "",
    }
    return Sample(sid, site_id, (serial or "").strip(), _utc(ts), fields)


class Original:
    """A read-only connection to the original database."""

    def __init__(self, dsn: str):
        self.conn = psycopg2.connect(dsn)
        self.conn.set_session(readonly=True)
        self.name = self.conn.get_dsn_parameters().get("dbname", "original")

    def close(self) -> None:
        self.conn.close()

    def _all(self, sql: str, params=()) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def has(self, table: str) -> bool:
        return self._all("SELECT to_regclass(%s) IS NOT NULL", [table])[0][0]

    def sites(self) -> list[SourceSite]:
        rows = self._all("SELECT id, name, slug FROM hosting_sites ORDER BY id")
        return [SourceSite(i, name or "", slug or "") for i, name, slug in rows]

    def customers(self) -> list[SourceCustomer]:
        """The users who own a hosted miner."""
        rows = self._all(
            "SELECT u.id, u.name, u.email, coalesce(u.company, '') FROM user_access u "
            "WHERE u.id IN (SELECT customer_id FROM hosting_miners) ORDER BY u.id"
        )
        return [SourceCustomer(i, name or "", email or "", company) for i, name, email, company in rows]

    def miners(self) -> list[SourceMiner]:
        rows = self._all(
            "SELECT m.id, m.site_id, m.customer_id, m.serial_number, m.rack_position, mm.model_name, "
            "mm.reference_hashrate, mm.reference_power, least(m.created_at, m.install_date) "
            "FROM hosting_miners m LEFT JOIN miner_models mm ON mm.id = m.miner_model_id ORDER BY m.id"
        )
        return [
            SourceMiner(i, site, customer, serial or "", zone_of(rack), model or "", hashrate, power, _utc(since))
            for i, site, customer, serial, rack, model, hashrate, power, since in rows
        ]

    def keys(self) -> list[SourceKey]:
        rows = self._all(
            "SELECT id, site_id, name, key_hash, coalesce(is_active, true) FROM collector_keys ORDER BY id"
        )
        return [SourceKey(i, site, name or "", key_hash or "", active) for i, site, name, key_hash, active in rows]

    def portfolio_entries(self) -> int:
        """user_miners rows: a user's own calculator entries (a model and a quantity, no serial,
        no site), which describe no device here and are not imported."""
        return self._all("SELECT count(*) FROM user_miners")[0][0] if self.has("user_miners") else 0

    def telemetry_sources(self) -> list[TelemetrySource]:
        return [s for s in TELEMETRY_SOURCES if self.has(s.table)]

    def _where(self, source: TelemetrySource, after_id: int, since: dt.datetime | None):
        prefix = "t." if source.table == "miner_telemetry" else ""
        where, params = f"{prefix}id > %s", [after_id]
        if since is not None:
            where += f" AND {source.ts_column} >= %s"
            params.append(since.replace(tzinfo=None))
        return where, params

    def telemetry_count(self, source: TelemetrySource, after_id: int, since: dt.datetime | None) -> int:
        where, params = self._where(source, after_id, since)
        return self._all(f"SELECT count(*) FROM ({source.select.format(where=where)}) q", params)[0][0]

    def telemetry_older(self, source: TelemetrySource, after_id: int, since: dt.datetime) -> int:
        prefix = "t." if source.table == "miner_telemetry" else ""
        sql = source.select.format(where=f"{prefix}id > %s AND {source.ts_column} < %s")
        return self._all(f"SELECT count(*) FROM ({sql}) q", [after_id, since.replace(tzinfo=None)])[0][0]

    def telemetry_per_miner(self, source: TelemetrySource, after_id: int, since: dt.datetime | None) -> list[tuple]:
        """(site id, serial, samples) of what a run would read: the dry run's counts."""
        where, params = self._where(source, after_id, since)
        inner = source.select.format(where=where)
        return self._all(
            f"SELECT q.site_id, trim(q.serial), count(*) FROM ({inner}) AS q(id, site_id, serial) GROUP BY 1, 2", params
        )

    def telemetry(
        self, source: TelemetrySource, after_id: int, since: dt.datetime | None, batch: int
    ) -> Iterator[list[Sample]]:
        """Batches in id order from a server-side cursor (the history does not fit in memory)."""
        where, params = self._where(source, after_id, since)
        with self.conn.cursor(name=f"import_{source.table}") as cur:
            cur.itersize = batch
            cur.execute(source.select.format(where=where), params)
            while rows := cur.fetchmany(batch):
                yield [_sample(r) for r in rows]
