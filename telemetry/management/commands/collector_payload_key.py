import sys

from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from core.errors import DomainError
from telemetry.models import CollectorPayloadKey
from telemetry.payload_keys import payload_key_clear, payload_key_generate, payload_key_parse, payload_key_set
from tenants.models import Collector


class Command(BaseCommand):
    stealth_options = ("stdin",)
    help = (
        "Register, rotate or clear a collector's payload key (its PICKAXE_LOCAL_KEY, for encrypted "
        "envelopes). --generate prints the new key once; only fingerprints are logged and audited."
    )

    def add_arguments(self, parser):
        parser.add_argument("--site", required=True, help="site code")
        parser.add_argument("--collector", required=True, help="collector name")
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument(
            "--set-hex",
            metavar="KEY",
            help="the collector's key: 64 hex characters or base64url; '-' reads it from stdin (not in ps/history)",
        )
        action.add_argument("--generate", action="store_true", help="make a new random key and print it once")
        action.add_argument("--clear", action="store_true", help="forget the collector's keys")
        action.add_argument("--show", action="store_true", help="print the current key's fingerprint")

    def handle(self, *args, site, collector, set_hex=None, generate=False, clear=False, show=False, **options):
        self.stdin = options.get("stdin", sys.stdin)
        obj = Collector.objects.select_related("site").filter(site__code=site, name=collector).first()
        if obj is None:
            raise CommandError(f"no collector {collector!r} at site {site!r}")
        actor = Actor.system("cli.collector_payload_key")
        try:
            if show:
                row = CollectorPayloadKey.objects.filter(collector=obj).first()
                self.stdout.write(row.fingerprint if row else "no payload key")
            elif clear:
                cleared = payload_key_clear(actor=actor, collector=obj)
                self.stderr.write(f"collector {obj} · payload key {'cleared' if cleared else 'was not set'}")
            elif generate:
                row, key_hex = payload_key_generate(actor=actor, collector=obj)
                self.stderr.write(
                    f"collector {obj} · payload key {row.fingerprint} · shown once, set it as PICKAXE_LOCAL_KEY:"
                )
                self.stdout.write(key_hex)
            else:
                text = self.stdin.readline() if set_hex == "-" else set_hex or ""
                row = payload_key_set(actor=actor, collector=obj, key=payload_key_parse(text))
                self.stderr.write(f"collector {obj} · payload key {row.fingerprint} registered")
        except DomainError as exc:
            raise CommandError(exc.message) from None
