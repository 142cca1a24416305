"""The whole mTLS path with a real TLS terminator: Debian's nginx on loopback running the shipped
deploy/nginx/hashinsight.conf (paths and ports swapped for the test's), in front of the app served
in-process. A CA, a server certificate and collector certificates (good, revoked in the CRL,
unregistered) are made here. nginx connects to the app from 127.0.0.2, the only trusted proxy, so
a request sent straight to the app (from 127.0.0.1) cannot pass forged certificate headers."""

import datetime as dt
import hashlib
import ipaddress
import shutil
import subprocess

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.utils import timezone

from audit.services import Actor
from hashinsight.tests import procs
from tenants.edge_security import (
    collector_certificate_add,
    collector_certificate_revoke,
    site_allowlist_set,
    site_mtls_set,
)
from verification.server import LocalServer

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

ACTOR = Actor.system("test.nginx")
CONF = procs.BASE_DIR / "deploy" / "nginx" / "hashinsight.conf"
URL_PATH = "/api/collector/status"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Pki:
    """A CA and the certificates it signs, written as PEM files into `folder`."""

    def __init__(self, folder):
        self.folder = folder
        self.now = dt.datetime.now(dt.UTC)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = self._sign(_name("HashInsight collectors CA"), self.ca_key.public_key(), ca=True)
        self._write("collector-ca.pem", self.ca.public_bytes(serialization.Encoding.PEM))

    def _sign(self, subject, public_key, *, ca=False, san=None, serial=None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if ca else self.ca.subject)
            .public_key(public_key)
            .serial_number(serial or x509.random_serial_number())
            .not_valid_before(self.now - dt.timedelta(minutes=5))
            .not_valid_after(self.now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(self.ca_key, hashes.SHA256())

    def _write(self, name: str, data: bytes):
        path = self.folder / name
        path.write_bytes(data)
        return path

    def issue(self, name: str, *, server=False) -> tuple:
        """(cert path, key path, SHA-256 fingerprint of the DER certificate)."""
        key = ec.generate_private_key(ec.SECP256R1())
        san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))] if server else None
        cert = self._sign(_name(name), key.public_key(), san=san)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        crt = self._write(f"{name}.crt", cert.public_bytes(serialization.Encoding.PEM))
        return crt, self._write(f"{name}.key", key_pem), cert.fingerprint(hashes.SHA256()).hex(), cert

    def crl(self, revoked: list) -> None:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ca.subject)
            .last_update(self.now - dt.timedelta(minutes=5))
            .next_update(self.now + dt.timedelta(days=7))
        )
        for cert in revoked:
            entry = x509.RevokedCertificateBuilder().serial_number(cert.serial_number).revocation_date(self.now)
            builder = builder.add_revoked_certificate(entry.build())
        crl = builder.sign(self.ca_key, hashes.SHA256())
        self._write("collector-ca.crl", crl.public_bytes(serialization.Encoding.PEM))


def render_conf(tls_dir, *, app_port: int, https_port: int, http_port: int) -> str:
    """The shipped config with the test's files and ports; every directive of it is kept."""
    text = CONF.read_text()
    swaps = {
        "/etc/hashinsight/tls/": f"{tls_dir}/",
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "/etc/nginx/snippets/": f"{CONF.parent}/",
    }
    for old, new in swaps.items():
        assert old in text, f"{old!r} is no longer in {CONF.name}: update this test"
        text = text.replace(old, new)
    return text


def main_conf(run_dir, site_conf) -> str:
    temp = "\n".join(
        f"    {kind}_temp_path {run_dir}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""daemon off;
master_process off;
pid {run_dir}/nginx.pid;
error_log {run_dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {run_dir}/access.log;
{temp}
    # The app trusts 127.0.0.2 only: nginx connects from there, the test's direct calls do not.
    proxy_bind 127.0.0.2;
    include {site_conf};
}}
"""


@pytest.fixture
def nginx_front(world, settings, tmp_path):
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    assert shutil.which(binary), "nginx is missing: scripts/ensure_tools.sh installs it"
    settings.EDGE_TRUSTED_PROXIES = ["127.0.0.2/32"]
    tls = tmp_path / "tls"
    tls.mkdir()
    pki = Pki(tls)
    pki.issue("server", server=True)
    certs = {name: pki.issue(name) for name in ("good", "revoked", "unregistered")}
    pki.crl([certs["revoked"][3]])
    run = tmp_path / "run"
    run.mkdir()
    with LocalServer() as app_url:
        https_port, http_port = procs.free_port(), procs.free_port()
        site_conf = tmp_path / "hashinsight.conf"
        site_conf.write_text(
            render_conf(tls, app_port=int(app_url.rsplit(":", 1)[1]), https_port=https_port, http_port=http_port)
        )
        (tmp_path / "nginx.conf").write_text(main_conf(run, site_conf))
        args = [binary, "-p", str(run), "-e", str(run / "error.log"), "-c", str(tmp_path / "nginx.conf")]
        check = subprocess.run([*args, "-t"], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        proc = procs.start(args, env=procs.clean_env(), log=tmp_path / "nginx.out")
        try:
            procs.wait_until(lambda: procs.listening(https_port), proc=proc, what="nginx listening")
            yield _Front(f"https://127.0.0.1:{https_port}", app_url, tls, certs, world)
        finally:
            procs.stop(proc)


class _Front:
    def __init__(self, url, app_url, tls, certs, world):
        self.url, self.app_url, self.tls, self.certs, self.world = url, app_url, tls, certs, world

    def get(self, cert: str | None = None, *, headers=None, direct=False):
        base = self.app_url if direct else self.url
        kwargs = {} if direct else {"verify": str(self.tls / "collector-ca.pem")}
        if cert:
            kwargs["cert"] = (str(self.certs[cert][0]), str(self.certs[cert][1]))
        return requests.get(
            base + URL_PATH,
            headers={"X-Collector-Key": self.world.token_x, "Connection": "close", **(headers or {})},
            timeout=10,
            **kwargs,
        )

    def fingerprint(self, name: str) -> str:
        return self.certs[name][2]


def code(response) -> tuple:
    return response.status_code, response.json().get("error_code")


def test_through_nginx_a_site_on_mtls_takes_only_its_registered_verified_certificate(nginx_front):
    front, w = nginx_front, nginx_front.world
    # mTLS off: the token alone, certificate or not
    assert front.get().status_code == 200
    assert front.get("good").status_code == 200

    site_mtls_set(actor=ACTOR, site=w.site_x, required=True)
    assert code(front.get()) == (401, "MTLS_NOT_VERIFIED")  # no certificate
    assert code(front.get("good")) == (401, "MTLS_CERT_UNKNOWN")  # verified, not registered yet
    not_after = timezone.now() + dt.timedelta(days=30)
    for name in ("good", "revoked"):
        collector_certificate_add(
            actor=ACTOR, collector=w.collector_x, fingerprint=front.fingerprint(name), not_after=not_after
        )
    assert front.get("good").status_code == 200
    # the same fingerprint as `openssl x509 -fingerprint -sha256` prints
    assert (
        front.fingerprint("good")
        == hashlib.sha256(front.certs["good"][3].public_bytes(serialization.Encoding.DER)).hexdigest()
    )
    assert code(front.get("unregistered")) == (401, "MTLS_CERT_UNKNOWN")
    # in nginx's CRL: refused by nginx itself, answered like the app would
    assert code(front.get("revoked")) == (401, "MTLS_NOT_VERIFIED")

    # forged headers through nginx are overwritten with what nginx verified (nothing)
    forged = {"X-SSL-Client-Verify": "SUCCESS", "X-SSL-Client-Fingerprint": front.fingerprint("good")}
    assert code(front.get(headers=forged)) == (401, "MTLS_NOT_VERIFIED")
    # and sent straight to the app they come from an untrusted peer
    assert code(front.get(headers=forged, direct=True)) == (401, "MTLS_UNTRUSTED_PROXY")

    # revoked in the app: refused at once, before any CRL is re-issued
    good = w.collector_x.certificates.get(fingerprint_sha256=front.fingerprint("good"))
    collector_certificate_revoke(actor=ACTOR, certificate=good)
    assert code(front.get("good")) == (401, "MTLS_CERT_REVOKED")


def test_through_nginx_the_allowlist_sees_the_client_nginx_saw(nginx_front):
    front, w = nginx_front, nginx_front.world
    site_allowlist_set(actor=ACTOR, site=w.site_x, networks=["127.0.0.1/32"])
    # nginx appends the client's address to X-Forwarded-For; a client's own entries are not believed
    assert front.get(headers={"X-Forwarded-For": "10.1.1.1"}).status_code == 200
    site_allowlist_set(actor=ACTOR, site=w.site_x, networks=["10.1.1.0/24"])
    assert code(front.get(headers={"X-Forwarded-For": "10.1.1.1"})) == (403, "SOURCE_NOT_ALLOWED")
