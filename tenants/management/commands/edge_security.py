from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.services import Actor
from core.errors import DomainError
from tenants.edge_security import (
    collector_certificate_add,
    collector_certificate_revoke,
    edge_security_of,
    fingerprint_normalize,
    site_allowlist_set,
    site_mtls_set,
)
from tenants.models import CollectorCertificate, Site


class Command(BaseCommand):
    help = (
        "A site's collector edge rules (docs/SECURITY.md): switch mTLS, set the source networks, register or "
        "revoke a collector's client certificate; every change audited. Without options: print the settings."
    )

    def add_arguments(self, parser):
        parser.add_argument("--site", required=True, help="site code")
        parser.add_argument("--mtls", choices=["on", "off"])
        parser.add_argument("--networks", help='comma-separated CIDRs; "" turns the allowlist off')
        parser.add_argument("--collector", help="collector name, for --add-certificate")
        parser.add_argument("--add-certificate", metavar="PEM_FILE", help="register this certificate for --collector")
        parser.add_argument(
            "--revoke-certificate", metavar="SHA256", help="revoke the certificate with this fingerprint"
        )
        parser.add_argument("--reason", default="", help="recorded in the audit event")

    def handle(self, *args, site, **o):
        site_obj = Site.objects.filter(code=site).first()
        if site_obj is None:
            raise CommandError(f"no site with code {site!r}")
        actor = Actor.system("cli.edge_security")
        try:
            if o["mtls"]:
                site_mtls_set(actor=actor, site=site_obj, required=o["mtls"] == "on", reason=o["reason"])
            if o["networks"] is not None:
                nets = [n for n in o["networks"].split(",") if n.strip()]
                site_allowlist_set(actor=actor, site=site_obj, networks=nets, reason=o["reason"])
            if o["add_certificate"]:
                self._add(actor, site_obj, o["collector"], Path(o["add_certificate"]))
            if o["revoke_certificate"]:
                fp = fingerprint_normalize(o["revoke_certificate"])
                cert = CollectorCertificate.objects.filter(collector__site=site_obj, fingerprint_sha256=fp).first()
                if cert is None:
                    raise CommandError(f"no certificate {fp} at site {site}")
                collector_certificate_revoke(actor=actor, certificate=cert)
        except DomainError as exc:
            raise CommandError(f"{exc.error_code}: {exc.message}") from exc
        sec = edge_security_of(Site.objects.select_related("edge_security").get(pk=site_obj.pk))
        self.stdout.write(f"site {site}: mTLS {'on' if sec.mtls_required else 'off'}")
        self.stdout.write(f"source networks: {', '.join(sec.source_networks) or 'any (allowlist off)'}")
        now = timezone.now()
        for cert in CollectorCertificate.objects.filter(collector__site=site_obj).select_related("collector"):
            state = "revoked" if cert.revoked_at else ("expired" if cert.not_after <= now else "active")
            until = f"{cert.not_after:%Y-%m-%d}"
            self.stdout.write(f"certificate {cert.fingerprint_sha256} {cert.collector.name} {state} not_after={until}")

    def _add(self, actor, site, collector_name, path: Path):
        collector = site.collectors.filter(name=collector_name or "").first()
        if collector is None:
            raise CommandError("--add-certificate needs --collector naming one of the site's collectors")
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise CommandError(f"{path}: not a readable PEM certificate") from exc
        collector_certificate_add(
            actor=actor,
            collector=collector,
            fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
            not_after=cert.not_valid_after_utc,
            note=f"cli: {cert.subject.rfc4514_string()}"[:200],
        )
