"""A database of the original application, made from original_schema.sql with generated rows, for
the import's tests (hashinsight/tests/test_import_original.py).

3 sites (one whose slug is not a usable code), 2 miner models, 4 customers and the original's
default owner (user 7, the operator's own miners), 50 miners in zones A and B of every site, 3
portfolio entries, 4 collector keys (one inactive), 2 days of history at one sample a minute for 4
miners and an hour in the older telemetry table for a fifth. And the bad rows a real one has: a
miner of a site that is gone, a serial that is another's with a space, a miner of a deleted user,
a key that is not a SHA-256, history of a miner that was never registered, history older than the
1-minute tier keeps.
"""

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2 import sql

SCHEMA = Path(__file__).with_name("original_schema.sql")
CUSTOMERS = {10: "Acme Hosting", 11: "Blue River", 12: "", 13: "Delta Mining"}  # 12 has no company
OPERATOR_USER = 7
GOOD_MINERS = 50
HISTORY_SERIALS = ("SN0001", "SN0002", "SN0003", "SN0004")
MINUTES = 2 * 24 * 60
OLD_TABLE_MINER = 5  # hosting_miners.id with an hour in miner_telemetry
KEYS = {1: ("edge-north", "orig-key-north", True), 2: ("edge-river", "orig-key-river", True)}
KEYS |= {3: ("edge-old", "orig-key-old", True), 4: ("edge-north", "orig-key-retired", False)}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Fixture:
    dsn: str
    name: str
    start: dt.datetime  # the first history sample (UTC)


def _admin_dsn(settings_dict: dict, dbname: str) -> dict:
    return {
        "dbname": dbname,
        "user": settings_dict.get("USER") or "postgres",
        "password": settings_dict.get("PASSWORD") or None,
        "host": settings_dict.get("HOST") or "127.0.0.1",
        "port": settings_dict.get("PORT") or 5432,
    }


def fixture_create(settings_dict: dict, name: str) -> Fixture:
    admin = psycopg2.connect(**_admin_dsn(settings_dict, "postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()
    params = _admin_dsn(settings_dict, name)
    start = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=2)
    conn = psycopg2.connect(**params)
    with conn, conn.cursor() as cur:
        cur.execute(SCHEMA.read_text())
        _fill(cur, start.replace(tzinfo=None))
    conn.close()
    dsn = f"postgres://{params['user']}@{params['host']}:{params['port']}/{name}"
    if params["password"]:
        dsn = f"postgres://{params['user']}:{params['password']}@{params['host']}:{params['port']}/{name}"
    return Fixture(dsn=dsn, name=name, start=start)


def fixture_drop(settings_dict: dict, name: str) -> None:
    admin = psycopg2.connect(**_admin_dsn(settings_dict, "postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.close()


def _fill(cur, start: dt.datetime) -> None:
    now = dt.datetime(2025, 3, 1)
    cur.executemany(
        "INSERT INTO hosting_sites (id, name, slug, location, capacity_mw, operator_name, electricity_rate, "
        "created_at) VALUES (%s, %s, %s, 'TX', 20, 'Op', 0.05, %s)",
        [(1, "North Hall", "north-hall", now), (2, "Riverside", "riverside", now), (3, "Old Farm", "old farm!", now)],
    )
    cur.executemany(
        "INSERT INTO miner_models (id, model_name, manufacturer, reference_hashrate, reference_power) "
        "VALUES (%s, %s, %s, %s, %s)",
        [(1, "Antminer S19 Pro", "Bitmain", 110.0, 3250), (2, "WhatsMiner M30S", "MicroBT", 88.0, 3344)],
    )
    users = [(OPERATOR_USER, "Farm Owner", "owner@farm.example", "", "owner")]
    users += [
        (uid, f"Customer {uid}", f"customer{uid}@example.com", company, "guest") for uid, company in CUSTOMERS.items()
    ]
    users.append((14, "Just Browsing", "guest14@example.com", "", "guest"))  # owns nothing
    cur.executemany(
        "INSERT INTO user_access (id, name, email, company, role, created_at, expires_at) "
        "VALUES (%s, %s, %s, nullif(%s, ''), %s, %s, %s)",
        [(*u, now, now + dt.timedelta(days=30)) for u in users],
    )
    customers = list(CUSTOMERS)
    miners = []
    for i in range(1, GOOD_MINERS + 1):
        owner = OPERATOR_USER if i > GOOD_MINERS - 2 else customers[i % len(customers)]
        site = i % 3 + 1
        miners.append((i, site, owner, 1 + i % 2, f"SN{i:04d}", f"{'AB'[i % 2]}-{i:02d}-01"))
    miners.append((51, 99, customers[0], 1, "SN0051", "A-51-01"))  # its site is gone
    miners.append((52, 2, customers[1], 1, " SN0001", "A-52-01"))  # SN0001 (site 2) with a space
    miners.append((53, 1, 99, 2, "SN0053", "B-53-01"))  # its owner is gone
    cur.executemany(
        "INSERT INTO hosting_miners (id, site_id, customer_id, miner_model_id, serial_number, rack_position, "
        "actual_hashrate, actual_power, install_date, created_at) VALUES (%s, %s, %s, %s, %s, %s, 100, 3200, %s, %s)",
        [(*m, now, now) for m in miners],
    )
    cur.executemany(
        "INSERT INTO user_miners (user_id, miner_model_id, quantity, actual_hashrate, actual_power) "
        "VALUES (%s, %s, %s, 100, 3250)",
        [(10, 1, 20), (10, 2, 5), (11, 1, 3)],
    )
    keys = [(kid, sha256(key), kid if kid < 4 else 1, name, active) for kid, (name, key, active) in KEYS.items()]
    keys.append((5, "not-a-sha256", 2, "edge-broken", True))
    cur.executemany(
        "INSERT INTO collector_keys (id, key_hash, site_id, name, is_active, created_at) VALUES (%s, %s, %s, %s, %s, %s)",
        [(*k, now) for k in keys],
    )
    for serial in HISTORY_SERIALS:
        site = int(serial[2:]) % 3 + 1
        cur.execute(
            'INSERT INTO miner_telemetry_history (miner_id, site_id, "timestamp", hashrate_ghs, temperature_avg, '
            "temperature_min, temperature_max, fan_speed_avg, power_consumption, accepted_shares, rejected_shares, "
            "online) SELECT %s, %s, %s + make_interval(mins => n), "
            "CASE WHEN n %% 97 = 0 THEN 0 ELSE 100000 + n %% 500 END, 60 + n %% 7, 50, 70 + n %% 11, 5400, 3250, n, 0, "
            "n %% 97 <> 0 FROM generate_series(0, %s - 1) AS n",
            [serial, site, start, MINUTES],
        )
    cur.execute(  # a miner the original never registered
        'INSERT INTO miner_telemetry_history (miner_id, site_id, "timestamp", hashrate_ghs, online) '
        "SELECT 'GHOST-1', 1, %s + make_interval(mins => n), 90000, true FROM generate_series(0, 9) AS n",
        [start],
    )
    cur.execute(  # before what the 1-minute tier keeps
        'INSERT INTO miner_telemetry_history (miner_id, site_id, "timestamp", hashrate_ghs, online) '
        "SELECT 'SN0001', 2, %s - interval '60 days' + make_interval(mins => n), 90000, true "
        "FROM generate_series(0, 4) AS n",
        [start],
    )
    cur.execute(
        "INSERT INTO miner_telemetry (miner_id, hashrate, power_consumption, temperature, fan_speed, pool_url, "
        "pool_worker, accepted_shares, rejected_shares, recorded_at) "
        "SELECT %s, 95.5, 3300, 68, 5200, 'stratum+tcp://pool.example:3333', 'acme.005', n, 0, "
        "%s + make_interval(mins => n) FROM generate_series(0, 59) AS n",
        [OLD_TABLE_MINER, start],
    )


HISTORY_ROWS = len(HISTORY_SERIALS) * MINUTES
OLD_TABLE_ROWS = 60
