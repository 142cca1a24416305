"""A representative API flow through PgBouncer in transaction pooling mode (Debian's pgbouncer,
deploy/pgbouncer/pgbouncer.ini): gunicorn with DATABASE_URL at PgBouncer, DB_CONN_MAX_AGE=0 and
DB_DISABLE_SERVER_SIDE_CURSORS=True; a collector uploads telemetry, polls a command and ACKs it,
and a NOC operator reads the miners back with a personal token. The whole API suite runs the same
way under `make test-pgbouncer` (scripts/test_pgbouncer.py)."""

import datetime as dt
import subprocess
from urllib.parse import urlsplit, urlunsplit

import orjson
import pytest
import requests

from audit.services import Actor
from control.models import Command, CommandState
from control.services.creation import command_create
from hashinsight.tests import pgcluster, procs
from telemetry.models import TelemetryLive
from telemetry.tests.ingest_fixtures import gz, record
from tenants.personal_tokens import personal_token_create
from verification.fleet import miner_key_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def bouncer(django_db_setup):
    # In front of PostgreSQL itself (under `make test-pgbouncer`, not of that run's own PgBouncer).
    upstream = urlsplit(procs.direct_database_url() or procs.database_url())
    proc, port, directory = pgcluster.pgbouncer_start(upstream_port=upstream.port or 5432, pool_size=5)
    try:
        netloc = upstream.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{port}"
        proc.url = urlunsplit(upstream._replace(netloc=netloc))
        proc.port = port
        yield proc
    finally:
        procs.stop(proc)
        subprocess.run(["rm", "-rf", str(directory)], check=False)


def _pools(port: int) -> list[dict]:
    out = subprocess.run(
        [str(pgcluster.bin_dir() / "psql"), "-X", "-A", "-F", "\t", f"postgres://postgres@127.0.0.1:{port}/pgbouncer"],
        input="SHOW POOLS;",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    header, *rows = [line.split("\t") for line in out.stdout.splitlines() if "\t" in line]
    return [dict(zip(header, row, strict=False)) for row in rows]


def test_upload_poll_ack_and_a_read_pass_through_pgbouncer_in_transaction_mode(bouncer, world, noc_x, tmp_path):
    web = procs.start_gunicorn(
        tmp_path, DATABASE_URL=bouncer.url, DB_CONN_MAX_AGE="0", DB_DISABLE_SERVER_SIDE_CURSORS="True"
    )
    try:
        base = f"http://127.0.0.1:{web.port}"
        headers = {
            "Authorization": f"Bearer {world.token_x}",
            "X-Site-ID": world.site_x.code,
            "X-Device-ID": "pgbouncer-test",
            "X-Edge-ID": "pgbouncer-test",
            "Connection": "close",
        }
        now = dt.datetime.now(dt.UTC)
        miners = world.miners_a_x
        body = gz([record(m.miner_id, now, miner_key=miner_key_for(world.site_x.code, m.miner_id)) for m in miners])
        upload = requests.post(
            f"{base}/api/collector/upload",
            data=body,
            headers={**headers, "Content-Encoding": "gzip", "Content-Type": "application/octet-stream"},
            timeout=30,
        )
        assert upload.status_code == 200, upload.text
        assert TelemetryLive.objects.filter(miner__in=miners).count() == len(miners)

        command = command_create(actor=Actor.user(noc_x), user=noc_x, miner=miners[0], command_type="enable_hashing")
        assert command.state == CommandState.QUEUED, command.state
        poll = requests.get(f"{base}/api/edge/v1/commands/poll?limit=10", headers=headers, timeout=30)
        assert poll.status_code == 200, poll.text
        (wire,) = poll.json()["commands"]
        assert wire["command_id"] == str(command.pk)
        ack = requests.post(
            f"{base}/api/edge/v1/commands/{command.pk}/ack",
            data=orjson.dumps({"command_id": str(command.pk), "status": "completed", "result_code": 0}),
            headers={**headers, "Content-Type": "application/json"},
            timeout=30,
        )
        assert ack.status_code == 200, ack.text
        assert Command.objects.get(pk=command.pk).state == CommandState.ACKED

        _, token = personal_token_create(actor=Actor.user(noc_x), user=noc_x, name="pgbouncer", expires_in_days=1)
        listed = requests.get(
            f"{base}/api/miners", headers={"Authorization": f"Bearer {token}", "Connection": "close"}, timeout=30
        )
        assert listed.status_code == 200, listed.text
        assert {m.miner_id for m in miners} <= {m["miner_id"] for m in listed.json()["miners"]}
    finally:
        procs.stop(web)
    # The traffic went through PgBouncer's transaction pool for the test database.
    pools = {p["database"]: p for p in _pools(bouncer.port)}
    assert pools[urlsplit(bouncer.url).path.lstrip("/")]["pool_mode"] == "transaction"
