-- The part of the original application's schema that manage.py import_original reads: the
-- tables and columns it selects, with the names and types its SQLAlchemy models give them
-- (Integer → integer, String(n) → varchar(n), Float → double precision, DateTime → timestamp
-- without time zone, holding UTC). Written for the import's tests; the original creates more
-- columns and tables. Foreign keys are left out: the tests also load rows a database whose
-- history predates its constraints can hold (a miner of a site that is gone).

CREATE TABLE hosting_sites (
    id serial PRIMARY KEY,
    name varchar(100) NOT NULL,
    slug varchar(50) NOT NULL UNIQUE,
    location varchar(200) NOT NULL,
    capacity_mw double precision NOT NULL,
    operator_name varchar(100) NOT NULL,
    electricity_rate double precision NOT NULL,
    created_at timestamp NOT NULL
);

CREATE TABLE miner_models (
    id serial PRIMARY KEY,
    model_name varchar(100) NOT NULL UNIQUE,
    manufacturer varchar(50) NOT NULL,
    reference_hashrate double precision NOT NULL,  -- TH/s
    reference_power integer NOT NULL  -- W
);

CREATE TABLE user_access (
    id serial PRIMARY KEY,
    name varchar(100) NOT NULL,
    email varchar(256) NOT NULL UNIQUE,
    username varchar(50) UNIQUE,
    company varchar(200),
    role varchar(20) NOT NULL DEFAULT 'guest',
    created_at timestamp NOT NULL,
    expires_at timestamp NOT NULL
);

CREATE TABLE hosting_miners (
    id serial PRIMARY KEY,
    site_id integer NOT NULL,
    customer_id integer NOT NULL,
    miner_model_id integer NOT NULL,
    serial_number varchar(100) NOT NULL UNIQUE,
    rack_position varchar(50),
    actual_hashrate double precision NOT NULL,
    actual_power double precision NOT NULL,
    status varchar(20) NOT NULL DEFAULT 'active',
    install_date timestamp,
    created_at timestamp NOT NULL
);
CREATE INDEX ix_hosting_miners_site_id ON hosting_miners (site_id);

CREATE TABLE user_miners (
    id serial PRIMARY KEY,
    user_id integer NOT NULL,
    miner_model_id integer NOT NULL,
    quantity integer NOT NULL DEFAULT 1,
    actual_hashrate double precision NOT NULL,
    actual_power integer NOT NULL
);

CREATE TABLE collector_keys (
    id serial PRIMARY KEY,
    key_hash varchar(64) NOT NULL UNIQUE,  -- SHA-256 hex of the key
    site_id integer NOT NULL,
    name varchar(100) NOT NULL,
    created_at timestamp,
    last_used_at timestamp,
    is_active boolean DEFAULT true
);

CREATE TABLE miner_telemetry_history (
    id serial PRIMARY KEY,
    miner_id varchar(50) NOT NULL,  -- the collector's miner id: the hosting miner's serial_number
    site_id integer NOT NULL,
    "timestamp" timestamp NOT NULL,
    hashrate_ghs double precision,
    temperature_avg double precision,
    temperature_min double precision,
    temperature_max double precision,
    fan_speed_avg integer,
    power_consumption double precision,
    accepted_shares integer,
    rejected_shares integer,
    online boolean
);
CREATE INDEX ix_telemetry_history_miner_time ON miner_telemetry_history (miner_id, "timestamp");
CREATE INDEX ix_telemetry_history_site_time ON miner_telemetry_history (site_id, "timestamp");

CREATE TABLE miner_telemetry (
    id serial PRIMARY KEY,
    miner_id integer NOT NULL,  -- hosting_miners.id
    hashrate double precision NOT NULL,  -- TH/s
    power_consumption double precision NOT NULL,
    temperature double precision,
    fan_speed integer,
    pool_url varchar(200),
    pool_worker varchar(100),
    accepted_shares bigint DEFAULT 0,
    rejected_shares bigint DEFAULT 0,
    recorded_at timestamp NOT NULL
);
