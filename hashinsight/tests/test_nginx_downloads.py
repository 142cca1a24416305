"""Large downloads through the single box's nginx (scripts/nginx.sh, deploy/nginx/hashinsight-proxy.conf)
with its temporary-file directory on a full disk: a download location (evidence pack zip, SLA report)
arrives whole, where an ordinary location cuts the same answer half-way; and a slow reader of a
download that fits nginx's memory buffers does not hold the app while it reads. The upstream is a
stub that answers every path with the same bytes, so only nginx's configuration is under test; the
first test checks that the download location matches the app's download routes and nothing else.
Uploads with the body's temporary disk full are refused whole. Root only (mount: a 1 MiB tmpfs under nginx's temporary directory, filled up)."""

import contextlib
import hashlib
import http.server
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests
from django.urls import reverse

from hashinsight.tests import procs
from hashinsight.tests.faults.stack import fill_up

pytestmark = pytest.mark.slow

CONF = procs.BASE_DIR / "deploy" / "nginx" / "hashinsight-proxy.conf"
MIB = 1024 * 1024
# More than the kernel's socket buffers (nginx's send buffer grows to tcp_wmem's 4 MiB) and nginx's
# buffers together, so the rest has to wait somewhere: a temporary file, or the app.
BIG = 14 * MIB
# Less than a download location's 8 MiB of buffers, more than the socket buffers and the default
# buffers (64 KiB) together: held by nginx only if the download location's buffers are in force.
FITS = 7 * MIB


def _download_location() -> tuple[re.Pattern, str]:
    """The download location's regular expression and its block."""
    match = re.search(r"^location ~ (\S+) \{\n(.*?)^\}", CONF.read_text(), re.M | re.S)
    assert match, "no regex location in hashinsight-proxy.conf"
    return re.compile(match[1]), match[2]


def test_the_download_location_is_the_apps_download_routes_and_keeps_no_temporary_file():
    pattern, block = _download_location()
    downloads = [
        reverse("hosting-evidence-pack-download", kwargs={"pk": 12}),
        reverse("hosting-evidence-request"),
        reverse("hosting-sla-report"),
        reverse("legacy-hosting-site-evidence-package", kwargs={"site_id": 3}),
    ]
    others = [reverse("hosting-evidence-pack", kwargs={"pk": 12}), "/api/v1/hosting/sla_report/x", "/alive"]
    assert [p for p in downloads if not pattern.fullmatch(p)] == []
    assert [p for p in others if pattern.fullmatch(p)] == []
    assert "proxy_max_temp_file_size 0;" in block and "proxy_pass http://hashinsight_app;" in block
    assert re.search(r"^\s*proxy_buffers 64 128k;$", block, re.M)  # 8 MiB: the packs measured fit
    # Uploads are still read whole before gunicorn sees them, every answer still buffered.
    text = CONF.read_text()
    assert "proxy_request_buffering on;" in text and "proxy_buffering on;" in text
    assert text.count("proxy_max_temp_file_size") == 1


class Stub:
    """An HTTP/1.1 upstream on loopback that answers every GET with `body`, recording when it has
    handed the last byte to the kernel."""

    def __init__(self, body: bytes):
        stub = self
        self.body, self.written, self.headers, self.posts = body, threading.Event(), [], []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                stub.headers.append(dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(stub.body)))
                self.end_headers()
                try:
                    self.wfile.write(stub.body)
                    self.wfile.flush()
                    stub.written.set()
                except OSError:
                    pass  # nginx gave up on us

            def do_POST(self):
                stub.posts.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def _nginx_with_full_disk(temp_dir: str, stub: Stub):
    """The single box's nginx with its `temp_dir` ("proxy", "client_body") on a full 1 MiB tmpfs."""
    # nginx started as root runs its workers as nobody, who cannot enter pytest's (0700) tmp_path:
    # the run directory is a world-readable one of its own, so a write fails for the full disk alone.
    run = Path(tempfile.mkdtemp(prefix="hi-nginx-full-"))
    run.chmod(0o755)
    temp = run / "nginx" / temp_dir
    temp.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M,mode=0777", "tmpfs", str(temp)], check=True)
    try:
        fill_up(temp, leave=0)
        server = procs.start_nginx(run, app_port=stub.port)
        try:
            yield server
        finally:
            procs.stop(server)
    finally:
        subprocess.run(["umount", "-l", str(temp)], check=False)
        shutil.rmtree(run, ignore_errors=True)


@pytest.fixture
def proxy():
    """nginx with its proxy temporary files on a full disk, in front of a stub of BIG bytes."""
    stub = Stub(bytes(range(256)) * (BIG // 256))
    try:
        with _nginx_with_full_disk("proxy", stub) as server:
            yield server, stub
    finally:
        stub.close()


def _slow_get(port: int, path: str, *, pause: float, on_pause=None) -> tuple[int, bytes]:
    """GET `path` with a small receive window, reading nothing for `pause` seconds (or until
    `on_pause()` is true), then everything until nginx closes: (Content-Length, the body)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.settimeout(60)
    sock.connect(("127.0.0.1", port))
    with sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        deadline = time.monotonic() + pause
        while time.monotonic() < deadline and not (on_pause and on_pause()):
            time.sleep(0.1)
        received = bytearray()
        while chunk := sock.recv(256 * 1024):
            received += chunk
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    length = int(re.search(rb"(?im)^content-length: *(\d+)", head)[1])
    return length, body


def test_a_download_through_a_full_temporary_disk_arrives_whole_where_another_path_is_cut(proxy):
    server, stub = proxy
    length, body = _slow_get(server.port, "/api/v1/hosting/evidence_packs/7/download", pause=3)
    # The download location proxies like every other (the server-level proxy_set_header apply).
    (seen,) = stub.headers
    assert (seen["Host"], seen["X-Forwarded-For"], seen["X-Forwarded-Proto"]) == ("127.0.0.1", "127.0.0.1", "http")
    assert length == len(stub.body), length
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(stub.body).hexdigest(), f"{len(body)} of {length} bytes"
    # The same answer from an ordinary location needs the temporary file, and the disk is full.
    length, body = _slow_get(server.port, "/api/v1/hosting/big-list", pause=3)
    assert length == len(stub.body) and len(body) < length
    server.log_file.flush()
    assert "No space left on device" in server.log_path.read_text(), procs.log_tail(server)


def test_a_slow_reader_of_a_download_that_fits_the_buffers_does_not_hold_the_app(proxy):
    server, stub = proxy
    stub.body = stub.body[:FITS]
    # Nothing is read until the stub has written its last byte: nginx holds what the kernel's
    # socket buffers cannot, in memory (with the default 64 KiB of buffers the stub would wait).
    length, body = _slow_get(
        server.port, "/hosting/api/sites/3/evidence-package", pause=30, on_pause=stub.written.is_set
    )
    assert stub.written.is_set(), "the app was still writing while the client read nothing"
    assert length == len(body) == FITS


def test_an_upload_with_the_body_temporary_disk_full_is_refused_whole_never_half_passed_on():
    # Uploads are read whole before the app sees them; past client_body_buffer_size (1 MiB) that
    # is the body temporary file. With its disk full the upload is refused and the app gets none of
    # it (the collector keeps the batch and retries); a smaller body is still served from memory.
    stub = Stub(b"")
    try:
        with _nginx_with_full_disk("client_body", stub) as server:
            url = f"http://127.0.0.1:{server.port}/api/collector/upload"
            small = requests.post(url, data=b"x" * (512 * 1024), timeout=30)
            big = requests.post(url, data=b"x" * (2 * MIB), timeout=30)
            server.log_file.flush()
            log = server.log_path.read_text()
    finally:
        stub.close()
    assert small.status_code == 200 and big.status_code == 500, (small.status_code, big.status_code)
    # nginx's own failure in the one error body, so the collector reads an error_code (was nginx's HTML page)
    assert big.headers["Content-Type"] == "application/json" and big.json()["error_code"] == "PROXY_ERROR", big.text
    assert [len(body) for body in stub.posts] == [512 * 1024]
    assert "No space left on device" in log, log


def test_an_app_that_does_not_answer_is_a_retryable_json_error_and_the_apps_own_500_passes_through(tmp_path):
    # gunicorn down (nothing listening): 502 in the one error body with Retry-After, not nginx's HTML
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    run = Path(tempfile.mkdtemp(prefix="hi-nginx-down-"))
    run.chmod(0o755)
    server = procs.start_nginx(run, app_port=dead_port)
    try:
        down = requests.post(f"http://127.0.0.1:{server.port}/api/collector/upload", data=b"[]", timeout=30)
    finally:
        procs.stop(server)
        shutil.rmtree(run, ignore_errors=True)
    assert down.status_code == 502 and down.headers["Retry-After"] == "5", (down.status_code, down.headers)
    assert down.json() == {
        "success": False,
        "error_code": "SERVICE_UNAVAILABLE",
        "error": "the application is not answering; retry later",
    }
    # The app's own 500 is not replaced (proxy_intercept_errors off): its body is what the client gets.
    stub = Stub(b"")

    class Failing(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = b'{"success": false, "error_code": "INTERNAL_ERROR"}'
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    stub.server.RequestHandlerClass = Failing
    run = Path(tempfile.mkdtemp(prefix="hi-nginx-500-"))
    run.chmod(0o755)
    server = procs.start_nginx(run, app_port=stub.port)
    try:
        own = requests.get(f"http://127.0.0.1:{server.port}/api/miners", timeout=30)
    finally:
        procs.stop(server)
        stub.close()
        shutil.rmtree(run, ignore_errors=True)
    assert own.status_code == 500 and own.json() == {"success": False, "error_code": "INTERNAL_ERROR"}
