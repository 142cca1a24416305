from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from control.services.signing import command_signing_set
from tenants.models import Site


class Command(BaseCommand):
    help = (
        "Turn HMAC signing of the commands handed to a site's collectors on or off (audited). "
        "New or rotated per-collector secrets are printed once: configure them on the edge."
    )

    def add_arguments(self, parser):
        parser.add_argument("--site", required=True, help="site code")
        state = parser.add_mutually_exclusive_group(required=True)
        state.add_argument("--on", action="store_true")
        state.add_argument("--off", action="store_true")
        parser.add_argument(
            "--rotate", action="store_true", help="issue new secrets for collectors that already have one"
        )

    def handle(self, *args, site, on=False, off=False, rotate=False, **options):
        site_obj = Site.objects.filter(code=site).first()
        if site_obj is None:
            raise CommandError(f"no site with code {site!r}")
        shown = command_signing_set(actor=Actor.system("cli.command_signing"), site=site_obj, enabled=on, rotate=rotate)
        self.stderr.write(
            f"signing {'on' if on else 'off'} for {site}; secrets shown once:"
            if shown
            else f"signing {'on' if on else 'off'} for {site}"
        )
        for name, secret in sorted(shown.items()):
            self.stdout.write(f"{name}  {secret}")
