import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from audit.services import Actor
from tenants.models import Collector, Role, Site, Tenant, Zone
from tenants.services import collector_token_create, inventory_save, miners_register, role_grant_create

SITES = [("SITE-ACC", "Accra Hosting Hall", ["A1", "A2"]), ("SITE-BRV", "Bravo Data Barn", ["B1", "B2"])]
MODELS = [("S21", 200, 3500), ("S19XP", 141, 3010), ("M60S", 186, 3441)]
DOMAIN = "hashinsight.demo"


class Command(BaseCommand):
    help = (
        "Load demo data: 2 customer tenants, 2 sites with zones, collectors (tokens printed once), miners, "
        "one user per role."
    )

    def add_arguments(self, parser):
        parser.add_argument("--miners", type=int, default=1500, help="miners per site (default 1500)")
        parser.add_argument("--password", help="password of every demo user (default: one random password, printed)")
        parser.add_argument("--if-empty", action="store_true", help="do nothing when demo data is already loaded")

    def handle(self, *args, miners=1500, password=None, if_empty=False, **options):
        if Site.objects.filter(code=SITES[0][0]).exists():
            if if_empty:
                self.stdout.write(
                    "demo data already loaded (users as printed on first run; `manage.py changepassword <user>` "
                    "resets one)"
                )
                return
            self.stderr.write("demo data already loaded")
            return
        password = password or secrets.token_urlsafe(9)
        actor = Actor.system("seed_demo")
        with transaction.atomic():
            operator = inventory_save(
                actor=actor, obj=Tenant(slug="operator", name="HashInsight Hosting", is_operator=True)
            )
            acme = inventory_save(actor=actor, obj=Tenant(slug="acme", name="Acme Mining"))
            blue = inventory_save(actor=actor, obj=Tenant(slug="blue-river", name="Blue River Capital"))
            customers = [acme, blue, operator]
            tokens = []
            sites = []
            for code, name, zone_codes in SITES:
                site = inventory_save(actor=actor, obj=Site(code=code, name=name))
                zones = [inventory_save(actor=actor, obj=Zone(site=site, code=z, name=f"Zone {z}")) for z in zone_codes]
                collector = inventory_save(actor=actor, obj=Collector(site=site, name=f"edge-{code.lower()}"))
                tokens.append((collector, collector_token_create(actor=actor, collector=collector, label="demo")[1]))
                # Racks of 10 miners alternate between owners; models rotate within a rack, so every
                # owner has every model and any slice of the fleet (e.g. the simulated one) has all owners.
                rows_by_owner = {owner.pk: [] for owner in customers}
                for n in range(miners):
                    model, ths, watts = MODELS[n % len(MODELS)]
                    owner = customers[(n // 10) % len(customers)]
                    rows_by_owner[owner.pk].append(
                        {
                            "miner_id": f"{model}_{n + 1:04d}",
                            "zone": zones[(n // 10) % len(zones)],
                            "model": model,
                            "nominal_hashrate_ths": ths,
                            "nominal_power_w": watts,
                        }
                    )
                for owner in customers:
                    miners_register(
                        actor=actor, site=site, tenant=owner, rows=rows_by_owner[owner.pk], reason="demo data"
                    )
                sites.append((site, zones))
            users = self._users(actor, password, sites, acme, blue)
        self.stdout.write(f"Demo data: 3 tenants, {len(sites)} sites, {miners * len(sites)} miners.")
        self.stdout.write("Collector tokens (shown once):")
        for collector, token in tokens:
            self.stdout.write(f"  {collector.site.code}  {collector.name}  {token}")
        self.stdout.write(f"Demo users (log in with the username as email), password: {password}")
        for role, username in users:
            self.stdout.write(f"{role}  {username}")

    def _users(self, actor, password, sites, acme, blue):
        User = get_user_model()
        (site_a, zones_a), _ = sites[0], sites[1]
        plan = [
            ("superuser", "admin", {}),
            ("Owner", "owner", {"role": Role.OWNER, "all_sites": True}),
            ("OpsManager", "opsmanager", {"role": Role.OPS_MANAGER, "site": site_a}),
            ("NOC", "noc", {"role": Role.NOC, "site": site_a}),
            ("Technician", "technician", {"role": Role.TECHNICIAN, "zone": zones_a[0]}),
            ("CustomerSuccess", "customersuccess", {"role": Role.CUSTOMER_SUCCESS, "all_sites": True}),
            ("Customer", "customer-acme", {"role": Role.CUSTOMER, "tenant": acme}),
            ("Customer", "customer-blueriver", {"role": Role.CUSTOMER, "tenant": blue}),
        ]
        out = []
        for label, name, grant in plan:
            email = f"{name}@{DOMAIN}"
            user = User(username=email, email=email, is_superuser=label == "superuser", is_staff=label == "superuser")
            user.set_password(password)
            inventory_save(actor=actor, obj=user)
            if grant:
                role_grant_create(actor=actor, user=user, **grant)
            out.append((label, email))
        return out
