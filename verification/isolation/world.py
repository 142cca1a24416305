"""The fixture world the isolation checker probes: two customer tenants, two sites, personas."""

import datetime as dt
import secrets
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from audit.services import Actor
from tenants.invitations import invitation_create
from tenants.models import (
    Collector,
    CollectorToken,
    Invitation,
    Miner,
    MinerGroup,
    ObjectGrant,
    PersonalToken,
    Role,
    RoleGrant,
    Site,
    Tenant,
    Zone,
)
from tenants.object_grants import object_grant_create
from tenants.personal_tokens import personal_token_create, personal_token_revoke
from tenants.services import (
    collector_token_create,
    collector_token_revoke,
    inventory_save,
    miners_register,
    role_grant_create,
)

ACTOR = Actor.system("verify_tenant_isolation")
# An id no table reaches: the answer for it must equal the answer for a real object out of scope.
MISSING_ID = "2147480001"


# --- the fixture world -----------------------------------------------------------------------------


@dataclass
class World:
    """Tenants A, B, C on sites X and Y. A and B share site X; B and C are at site Y.

    customer_a must not reach B's objects (B's miner at the shared site X included); noc_x must not
    reach site Y's objects nor tenant C (which has no miner at X)."""

    tag: str
    tenant_a: Tenant
    tenant_b: Tenant
    tenant_c: Tenant
    site_x: Site
    site_y: Site
    zone_x: Zone
    zone_y: Zone
    miner_a_x: Miner
    miner_b_x: Miner
    miner_b_y: Miner
    miner_c_y: Miner
    collector_x: Collector
    collector_y: Collector
    group_x: MinerGroup
    group_y: MinerGroup
    customer_a: object
    customer_b: object
    noc_x: object
    noc_y: object
    grant_customer_b: RoleGrant
    grant_noc_y: RoleGrant
    invitation_b: Invitation
    #: personal tokens of customer B and NOC Y: what customer A and NOC X must not reach
    personal_token_b: PersonalToken
    personal_token_y: PersonalToken
    #: object grants (django-guardian mirrored): a Customer of tenant A limited to group X2 (which
    #: holds A's and B's miners at site X: only A's may show), a contractor technician on zone X
    #: for a week, and customer B's grant on group Y (what neither may reach)
    group_x2: MinerGroup | None = None
    group_customer_a: object = None
    zone_tech_x: object = None
    object_grant_group_a: ObjectGrant | None = None
    object_grant_zone_x: ObjectGrant | None = None
    object_grant_group_b_y: ObjectGrant | None = None
    token_x: CollectorToken | None = None
    token_y: CollectorToken | None = None
    token_x_plain: str = ""
    token_y_plain: str = ""
    #: each run's personal tokens of the personas that sign in (user attribute -> token, plaintext)
    personal_tokens: dict = field(default_factory=dict)

    def markers_b(self) -> tuple[str, ...]:
        """Text only someone who sees tenant B's data could print."""
        return (
            self.tenant_b.name,
            self.miner_b_x.miner_id,
            self.miner_b_y.miner_id,
            self.customer_b.username,
            self.personal_token_b.prefix,
        )

    def markers_y(self) -> tuple[str, ...]:
        """Text only someone who sees site Y (or tenant C) could print."""
        return (
            self.site_y.code,
            self.site_y.name,
            self.tenant_c.name,
            self.miner_b_y.miner_id,
            self.miner_c_y.miner_id,
            self.collector_y.name,
            self.group_y.name,
            self.noc_y.username,
            self.personal_token_y.prefix,
        )

    def markers_all(self) -> tuple[str, ...]:
        return (self.tag,)


def _get_or_save(model, lookup: dict, **fields):
    obj = model.objects.filter(**lookup).first()
    if obj is None:
        obj = inventory_save(actor=ACTOR, obj=model(**lookup, **fields))
    return obj


def _user(username: str):
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User(username=username, email=username)
        user.set_unusable_password()  # the check logs in by session; nobody logs in as these users
        inventory_save(actor=ACTOR, obj=user)
    return user


def _grant(user, role: str, **scope) -> RoleGrant:
    existing = RoleGrant.objects.filter(user=user, role=role, **scope).first()
    return existing or role_grant_create(actor=ACTOR, user=user, role=role, **scope)


def _personal_token(user, name: str) -> PersonalToken:
    """A long-lived row to be denied: that it expires later changes nothing (its plaintext is never used)."""
    existing = PersonalToken.objects.filter(user=user, name=name).first()
    return existing or personal_token_create(actor=ACTOR, user=user, name=name, expires_in_days=1)[0]


def _object_grant(user, role: str, **target) -> ObjectGrant:
    """A live object grant (the world is reused: one that lapsed since is replaced by a new one)."""
    from tenants.scoping import live_object_grants

    existing = live_object_grants().filter(user=user, role=role, **target).first()
    if existing is not None and (
        existing.expires_at is None or existing.expires_at > timezone.now() + dt.timedelta(days=1)
    ):
        return existing
    return object_grant_create(
        actor=ACTOR,
        granted_by=None,
        user=user,
        role=role,
        expires_at=timezone.now() + dt.timedelta(days=7),
        reason="isolation check",
        **target,
    )


def _object_grants(w: "World") -> None:
    w.group_x2 = _get_or_save(MinerGroup, {"site": w.site_x, "name": f"{w.tag} Group X2"})
    w.group_x2.miners.set([w.miner_a_x, w.miner_b_x])
    w.group_customer_a = _user(f"{w.tag}-group-customer-a@isolation.invalid")
    w.zone_tech_x = _user(f"{w.tag}-zone-tech-x@isolation.invalid")
    w.object_grant_group_a = _object_grant(w.group_customer_a, Role.CUSTOMER, miner_group=w.group_x2, tenant=w.tenant_a)
    w.object_grant_zone_x = _object_grant(w.zone_tech_x, Role.TECHNICIAN, zone=w.zone_x)
    w.object_grant_group_b_y = _object_grant(w.customer_b, Role.CUSTOMER, miner_group=w.group_y, tenant=w.tenant_b)


def _miner(site: Site, tenant: Tenant, zone: Zone, miner_id: str) -> Miner:
    miners_register(
        actor=ACTOR,
        site=site,
        tenant=tenant,
        rows=[{"miner_id": miner_id, "zone": zone, "model": "S21"}],
        reason="isolation check",
    )
    return Miner.objects.get(site=site, miner_id=miner_id)


def _find_tag() -> str:
    anchor = Tenant.objects.filter(slug__regex=r"^iso-[0-9a-f]{6}-a$").order_by("pk").first()
    return anchor.slug.removesuffix("-a") if anchor else f"iso-{secrets.token_hex(3)}"


@transaction.atomic
def world_ensure() -> World:
    """Create the fixture world (all names start with iso-<hex>), or reuse the one a run left.

    A run removes its world at the end (cleanup.world_purge); one a crashed run left behind is found
    here by its tag, reused and then removed. Its audit events stay (append-only), named by the tag."""
    tag = _find_tag()
    ta = _get_or_save(Tenant, {"slug": f"{tag}-a"}, name=f"{tag} Tenant A")
    tb = _get_or_save(Tenant, {"slug": f"{tag}-b"}, name=f"{tag} Tenant B")
    tc = _get_or_save(Tenant, {"slug": f"{tag}-c"}, name=f"{tag} Tenant C")
    sx = _get_or_save(Site, {"code": f"{tag}-SITE-X"}, name=f"{tag} Site X")
    sy = _get_or_save(Site, {"code": f"{tag}-SITE-Y"}, name=f"{tag} Site Y")
    zx = _get_or_save(Zone, {"site": sx, "code": "X1"}, name=f"{tag} Zone X1")
    zy = _get_or_save(Zone, {"site": sy, "code": "Y1"}, name=f"{tag} Zone Y1")
    customer_a, customer_b = _user(f"{tag}-customer-a@isolation.invalid"), _user(f"{tag}-customer-b@isolation.invalid")
    noc_x, noc_y = _user(f"{tag}-noc-x@isolation.invalid"), _user(f"{tag}-noc-y@isolation.invalid")
    _grant(customer_a, Role.CUSTOMER, tenant=ta)
    _grant(noc_x, Role.NOC, site=sx)
    invitation_b = Invitation.objects.filter(email=f"{tag}-invitee-b@isolation.invalid").first()
    if invitation_b is None:
        invitation_b, _ = invitation_create(
            actor=ACTOR,
            invited_by=None,
            email=f"{tag}-invitee-b@isolation.invalid",
            role=Role.CUSTOMER,
            tenant=tb,
            valid_days=3650,
        )
    world = World(
        tag=tag,
        tenant_a=ta,
        tenant_b=tb,
        tenant_c=tc,
        site_x=sx,
        site_y=sy,
        zone_x=zx,
        zone_y=zy,
        miner_a_x=_miner(sx, ta, zx, f"{tag}-A-X-1"),
        miner_b_x=_miner(sx, tb, zx, f"{tag}-B-X-1"),
        miner_b_y=_miner(sy, tb, zy, f"{tag}-B-Y-1"),
        miner_c_y=_miner(sy, tc, zy, f"{tag}-C-Y-1"),
        collector_x=_get_or_save(Collector, {"site": sx, "name": f"{tag}-edge-x"}),
        collector_y=_get_or_save(Collector, {"site": sy, "name": f"{tag}-edge-y"}),
        group_x=_get_or_save(MinerGroup, {"site": sx, "name": f"{tag} Group X"}),
        group_y=_get_or_save(MinerGroup, {"site": sy, "name": f"{tag} Group Y"}),
        customer_a=customer_a,
        customer_b=customer_b,
        noc_x=noc_x,
        noc_y=noc_y,
        grant_customer_b=_grant(customer_b, Role.CUSTOMER, tenant=tb),
        grant_noc_y=_grant(noc_y, Role.NOC, site=sy),
        invitation_b=invitation_b,
        personal_token_b=_personal_token(customer_b, f"{tag} token of customer B"),
        personal_token_y=_personal_token(noc_y, f"{tag} token of NOC Y"),
    )
    _object_grants(world)
    return world


def world_tokens_mint(world: World) -> None:
    """Plaintexts are shown once and never stored, so every run mints its own pair (revoked after)."""
    world.token_x, world.token_x_plain = collector_token_create(
        actor=ACTOR, collector=world.collector_x, label="isolation check"
    )
    world.token_y, world.token_y_plain = collector_token_create(
        actor=ACTOR, collector=world.collector_y, label="isolation check"
    )
    # Every probe of a signed-in persona runs again with that person's own personal token.
    for attr in ("customer_a", "noc_x", "group_customer_a", "zone_tech_x"):
        world.personal_tokens[attr] = personal_token_create(
            actor=ACTOR, user=getattr(world, attr), name="isolation check", expires_in_days=1
        )


def world_tokens_revoke(world: World) -> None:
    for token in (world.token_x, world.token_y):
        if token is not None:
            collector_token_revoke(actor=ACTOR, token=token)
    for personal, _ in world.personal_tokens.values():
        personal_token_revoke(actor=ACTOR, token=personal)
