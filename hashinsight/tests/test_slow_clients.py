"""Slow clients against the real stack: gunicorn (gunicorn.conf.py, two sync workers) alone, and
behind the single box's nginx (scripts/nginx.sh, deploy/nginx/hashinsight-proxy.conf).

50 connections send their request header one line at a time and 50 send an upload body one byte at
a time (a line, a byte every second: far slower than any real client, well inside nginx's
15 s / 30 s timeouts). Straight at gunicorn they hold both workers and `/alive` does not answer;
through nginx, `/alive`, a collector upload and a command poll each answer within 1 s."""

import datetime as dt
import socket
import threading
import time

import pytest
import requests

from hashinsight.tests import procs
from telemetry.tests.ingest_fixtures import gz, record
from verification.fleet import miner_key_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SLOW_HEADERS, SLOW_BODIES = 50, 50
ANSWER_WITHIN_SEC = 1.0


@pytest.fixture(scope="module")
def stack(django_db_setup, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slow-clients")
    app = procs.start_gunicorn(tmp, WEB_CONCURRENCY="2")
    try:
        proxy = procs.start_nginx(tmp, app_port=app.port)
        try:
            yield app, proxy
        finally:
            procs.stop(proxy)
    finally:
        procs.stop(app)


class SlowClients:
    """Connections that trickle their request: `headers` of them a header line at a time, `bodies`
    of them a (collector upload) body a byte at a time, from one thread, until closed."""

    def __init__(self, port: int, token: str, *, headers: int, bodies: int, every: float = 1.0):
        self.every, self.sockets, self._stop = every, [], threading.Event()
        for n in range(headers):
            self._open(port, b"GET /alive HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-%d: 1\r\n" % n)
        upload = (
            "POST /api/collector/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"X-Collector-Key: {token}\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n{{"
        ).encode()
        for _ in range(bodies):
            self._open(port, upload)
        self.headers = headers
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _open(self, port: int, first: bytes) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(first)
        self.sockets.append(sock)

    def _trickle(self) -> None:
        n = 0
        while not self._stop.wait(self.every):
            n += 1
            for i, sock in enumerate(self.sockets):
                try:
                    sock.sendall(b"X-More-%d: %d\r\n" % (n, n) if i < self.headers else b" ")
                except OSError:
                    pass  # closed by the server (timeout): that is what it is for

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _collector_headers(world) -> dict:
    return {
        "X-Collector-Key": world.token_x,
        "Authorization": f"Bearer {world.token_x}",
        "X-Site-ID": world.site_x.code,
        "X-Device-ID": "slow-clients-test",
        "Connection": "close",
    }


def test_straight_at_gunicorn_a_hundred_slow_clients_starve_both_workers(stack, world):
    app, _ = stack
    slow = SlowClients(app.port, world.token_x, headers=SLOW_HEADERS, bodies=SLOW_BODIES)
    try:
        time.sleep(1)  # both workers have taken a slow connection by now
        with pytest.raises(requests.exceptions.Timeout):
            requests.get(f"http://127.0.0.1:{app.port}/alive", headers={"Connection": "close"}, timeout=3)
    finally:
        slow.close()
    # Once they are gone the workers serve again (what the issue saw: down until they close).
    procs.wait_until(lambda: procs.http_get(app.port, "/alive"), proc=app, what="gunicorn serving again")


def test_behind_nginx_alive_an_upload_and_a_poll_answer_within_a_second(stack, world):
    app, proxy = stack
    base = f"http://127.0.0.1:{proxy.port}"
    slow = SlowClients(proxy.port, world.token_x, headers=SLOW_HEADERS, bodies=SLOW_BODIES)
    try:
        time.sleep(1)
        now = dt.datetime.now(dt.UTC)
        body = gz(
            [record(m.miner_id, now, miner_key=miner_key_for(world.site_x.code, m.miner_id)) for m in world.miners_a_x]
        )
        for _ in range(3):  # and again, with the slow clients still trickling
            alive, alive_sec = _timed(lambda: requests.get(f"{base}/alive", timeout=5))
            upload, upload_sec = _timed(
                lambda: requests.post(
                    f"{base}/api/collector/upload",
                    data=body,
                    headers={
                        **_collector_headers(world),
                        "Content-Encoding": "gzip",
                        "Content-Type": "application/octet-stream",
                    },
                    timeout=5,
                )
            )
            poll, poll_sec = _timed(
                lambda: requests.get(f"{base}/api/edge/v1/commands/poll", headers=_collector_headers(world), timeout=5)
            )
            assert alive.status_code == 200, alive.text
            assert upload.status_code == 200, upload.text
            assert poll.status_code in (200, 204), poll.text
            assert max(alive_sec, upload_sec, poll_sec) < ANSWER_WITHIN_SEC, (alive_sec, upload_sec, poll_sec)
            time.sleep(1)
    finally:
        slow.close()
