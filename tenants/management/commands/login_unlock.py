from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from tenants.lockout import login_unlock


class Command(BaseCommand):
    help = "Lift a login lockout (tenants.lockout) for an account and/or an IP address; audited."

    def add_arguments(self, parser):
        parser.add_argument("--email", default="")
        parser.add_argument("--ip", default="")

    def handle(self, *args, email="", ip="", **options):
        if not email and not ip:
            raise CommandError("name an --email or an --ip")
        unlocked = login_unlock(actor=Actor.system("cli.login_unlock"), email=email, ip=ip)
        self.stdout.write("unlocked" if unlocked else "was not locked")
