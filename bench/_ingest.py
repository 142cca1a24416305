"""What the ingest benches share (bench/telemetry_ingest_bench.py, bench/soak.py): gunicorn on a
free port, and the floor of an upload, bare COPY + upsert of the same records. Not a bench itself."""

import datetime as dt
import gzip
import io
import os
import socket
import subprocess
import tempfile
import time

import orjson
import psycopg2
import requests
from _harness import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """The production server, as `make run` starts it, on a free port; stopped by its own pid."""

    def __init__(
        self,
        workers: int,
        log: str | None = None,
        *,
        root=ROOT,
        app: str = "hashinsight.wsgi",
        env: dict | None = None,
        args: tuple[str, ...] = (),
    ):
        """`root`: the checkout to serve (another revision's, for a before/after in one run);
        `app`, `args`, `env`: another WSGI module (on `--pythonpath` in `args`), more variables."""
        self.port = free_port()
        self.log = open(log, "w") if log else None
        self.metrics_dir = tempfile.TemporaryDirectory(prefix="hi-bench-metrics-")
        env = {
            **os.environ,
            **(env or {}),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir.name,
        }
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), app, "-c", "gunicorn.conf.py", *args],
            cwd=root,
            env=env,
            stdout=self.log,
            stderr=self.log,
        )

    def __enter__(self) -> str:
        url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}")
            try:
                if requests.get(url + "/ready", timeout=2).status_code == 200:
                    return url
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError("gunicorn did not become ready in 60 s")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.metrics_dir.cleanup()
        if self.log:
            self.log.close()


RAW_COLUMNS = (
    "site_id, miner_id, ts, tenant_id, received_at, batch_id, device_id, mode, temperature_chips, online, hashrate_ghs, "
    "hashrate_5s_ghs, temperature_avg, temperature_max, frequency_avg, fan_speeds, accepted_shares, rejected_shares, "
    "hardware_errors, uptime_seconds, pool_url, worker_name, error_message"
)
SAMPLE = (
    "online, hashrate_ghs, hashrate_5s_ghs, temperature_avg, temperature_max, frequency_avg, fan_speeds, accepted_shares, "
    "rejected_shares, hardware_errors, uptime_seconds, pool_url, worker_name, error_message, temperature_chips"
).split(", ")
LIVE_SQL = (
    f"INSERT INTO telemetry_live AS l (miner_id, site_id, tenant_id, ts, received_at, device_id, {', '.join(SAMPLE)}) "
    f"SELECT DISTINCT ON (miner_id) miner_id, site_id, tenant_id, ts, received_at, device_id, {', '.join(SAMPLE)} FROM stage ORDER BY miner_id, ts DESC "
    "ON CONFLICT (miner_id) DO UPDATE SET ts = EXCLUDED.ts, received_at = EXCLUDED.received_at, device_id = EXCLUDED.device_id, "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in SAMPLE if c not in ("pool_url", "worker_name"))
    + ", pool_url = coalesce(nullif(EXCLUDED.pool_url, ''), l.pool_url), worker_name = coalesce(nullif(EXCLUDED.worker_name, ''), l.worker_name) "
    "WHERE l.ts < EXCLUDED.ts"
)


class RawSqlPath:
    """The floor: bytes → gunzip → JSON → COPY into staging → upsert raw and live, one transaction."""

    def __init__(self, site_id: int, tenant_id: int, ids: dict):
        self.conn = psycopg2.connect(os.environ["DATABASE_URL"])
        self.site_id, self.tenant_id, self.ids = site_id, tenant_id, ids
        with self.conn, self.conn.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE stage AS SELECT {RAW_COLUMNS} FROM telemetry_raw WITH NO DATA")

    def ingest(self, body: bytes) -> int:
        records = orjson.loads(gzip.decompress(body))
        now = dt.datetime.now(dt.UTC).isoformat()
        head = f"{self.site_id}\t"
        tail = f"\t{self.tenant_id}\t{now}\t0\tbench\traw\t"
        lines = []
        for r in records:
            chips = "{" + ",".join(map(str, r["temperature_chips"])) + "}"
            fans = "{" + ",".join(map(str, r["fan_speeds"])) + "}"
            lines.append(
                f"{head}{self.ids[r['miner_id']]}\t{r['timestamp']}+00{tail}{chips}\t{'t' if r['online'] else 'f'}\t{r['hashrate_ghs']}\t"
                f"{r['hashrate_5s_ghs']}\t{r['temperature_avg']}\t{r['temperature_max']}\t{r['frequency_avg']}\t{fans}\t"
                f"{r['accepted_shares']}\t{r['rejected_shares']}\t{r['hardware_errors']}\t{r['uptime_seconds']}\t"
                f"{r['pool_url']}\t{r['worker_name']}\t{r['error_message']}\n"
            )
        with self.conn, self.conn.cursor() as cur:
            cur.execute("TRUNCATE stage")
            cur.copy_expert(f"COPY stage ({RAW_COLUMNS}) FROM STDIN", io.StringIO("".join(lines)))
            cur.execute(
                f"INSERT INTO telemetry_raw ({RAW_COLUMNS}) SELECT {RAW_COLUMNS} FROM stage ON CONFLICT DO NOTHING"
            )
            inserted = cur.rowcount
            cur.execute(LIVE_SQL)
        return inserted

    def close(self):
        self.conn.close()
