"""The raw and 1-minute tiers: partitioned by day on their time column (SPEC §5).

Partitions are created ahead and dropped by retention in telemetry.partitions; there is no
default partition, so a row can only land in a day that retention still keeps.
"""

from django.db import migrations

SAMPLE_COLUMNS = """
    online boolean NOT NULL,
    hashrate_ghs double precision NULL,
    hashrate_5s_ghs double precision NULL,
    temperature_avg double precision NULL,
    temperature_max double precision NULL,
    frequency_avg double precision NULL,
    fan_speeds integer[] NOT NULL DEFAULT '{}',
    accepted_shares bigint NULL,
    rejected_shares bigint NULL,
    hardware_errors bigint NULL,
    uptime_seconds bigint NULL,
    pool_url text NOT NULL DEFAULT '',
    worker_name text NOT NULL DEFAULT '',
    error_message text NOT NULL DEFAULT ''
"""

AGGREGATE_COLUMNS = """
    samples integer NOT NULL,
    online_samples integer NOT NULL,
    hashrate_5s_sum double precision NOT NULL,
    hashrate_5s_count integer NOT NULL,
    hashrate_5s_max double precision NULL,
    temperature_max_max double precision NULL,
    temperature_max_sum double precision NOT NULL,
    temperature_max_count integer NOT NULL,
    frequency_sum double precision NOT NULL,
    frequency_count integer NOT NULL,
    first_ts timestamptz NOT NULL,
    last_ts timestamptz NOT NULL,
    revision integer NOT NULL DEFAULT 0,
    corrected boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL
"""

CREATE = f"""
CREATE TABLE telemetry_raw (
    site_id bigint NOT NULL,
    miner_id bigint NOT NULL,
    ts timestamptz NOT NULL,
    tenant_id bigint NOT NULL,
    received_at timestamptz NOT NULL,
    batch_id bigint NOT NULL,
    device_id varchar(128) NOT NULL DEFAULT '',
    mode varchar(16) NOT NULL DEFAULT '',
    temperature_chips double precision[] NOT NULL DEFAULT '{{}}',
    {SAMPLE_COLUMNS},
    PRIMARY KEY (site_id, miner_id, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX telemetry_raw_site_ts_idx ON telemetry_raw (site_id, ts);

CREATE TABLE telemetry_1m (
    site_id bigint NOT NULL,
    tenant_id bigint NOT NULL,
    miner_id bigint NOT NULL,
    bucket timestamptz NOT NULL,
    {AGGREGATE_COLUMNS},
    PRIMARY KEY (site_id, tenant_id, miner_id, bucket)
) PARTITION BY RANGE (bucket);
CREATE INDEX telemetry_1m_site_bucket_idx ON telemetry_1m (site_id, bucket);
CREATE INDEX telemetry_1m_miner_bucket_idx ON telemetry_1m (miner_id, bucket);
CREATE INDEX telemetry_1m_updated_idx ON telemetry_1m (updated_at);

-- Live rows are updated in place on every upload: room on each page keeps the updates HOT.
ALTER TABLE telemetry_live SET (fillfactor = 70);
"""

DROP = """
DROP TABLE IF EXISTS telemetry_1m;
DROP TABLE IF EXISTS telemetry_raw;
ALTER TABLE telemetry_live RESET (fillfactor);
"""


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
