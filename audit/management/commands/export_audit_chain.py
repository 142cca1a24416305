import sys

from django.core.management.base import BaseCommand, CommandError

from audit.export import audit_chain_export
from audit.models import AuditChain, AuditCheckpoint


class Command(BaseCommand):
    help = (
        "Write one chain as JSON lines (to a file or stdout) for audit/standalone_verify.py, "
        "which re-checks it with the Python standard library alone. --checkpoints writes the "
        "sealed checkpoints of every chain instead (keep them off-site)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--chain", help="chain key: platform, site:<code> or tenant:<id>")
        parser.add_argument("--checkpoints", action="store_true", help="export all checkpoints instead of events")
        parser.add_argument("--out", default="-", help="file to write (default: stdout)")

    def handle(self, *args, chain=None, checkpoints=False, out="-", **options):
        import orjson

        stream = sys.stdout.buffer if out == "-" else open(out, "wb")
        try:
            if checkpoints:
                for cp in AuditCheckpoint.objects.order_by("chain_key", "first_seq").values():
                    stream.write(orjson.dumps(cp) + b"\n")
                return
            if not chain:
                raise CommandError("--chain is required (or --checkpoints)")
            if not AuditChain.objects.filter(key=chain).exists():
                raise CommandError(f"no chain {chain!r}")
            purged = (
                AuditCheckpoint.objects.filter(chain_key=chain, purged_at__isnull=False).order_by("-last_seq").first()
            )
            n = audit_chain_export(chain_key=chain, out=stream, first_seq=purged.last_seq + 1 if purged else 1)
            self.stderr.write(f"exported {n} events of {chain}")
        finally:
            if stream is not sys.stdout.buffer:
                stream.close()
