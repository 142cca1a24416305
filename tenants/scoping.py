"""The one choke point for "what may this user see, and where may they act" — as querysets.

Every API view, admin page, portal page, export and CLI asks here. Rules (SPEC §2):
- a platform superuser sees everything;
- operator roles see the sites (or zones) they are granted, or all sites;
- a Customer sees only miners whose current owner is one of their tenants, and the sites and
  zones those miners are in; Customers never act.
- object grants (tenants.models.ObjectGrant, docs/SECURITY.md "Object grants") add what roles do
  not cover: a Customer limited to some miner groups of a tenant, an operator role on one zone
  until an expiry. Live ones only — not revoked, not expired, `expires_at` still ahead, checked
  here on every read. This module is the one that reads them.
"""

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db.models import BigIntegerField, BooleanField, CharField, Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast
from django.utils import timezone

from core.errors import Forbidden
from tenants.models import (
    OPERATOR_ROLES,
    Collector,
    CollectorCertificate,
    CollectorToken,
    Miner,
    MinerGroup,
    ObjectGrant,
    Role,
    RoleGrant,
    Site,
    SiteAlias,
    SiteEdgeSecurity,
    Tenant,
    Zone,
)
from tenants.site_identity import site_by_code_or_alias

FORBIDDEN_MESSAGE = "not found or not yours"  # the same words whether the object exists or not


class Capability:
    VIEW = "view"
    OPERATE = "operate"  # create and execute commands
    APPROVE = "approve"  # approve / reject commands
    MANAGE_INVENTORY = "manage_inventory"  # sites, zones, collectors, miners, ownership
    MANAGE_TOKENS = "manage_tokens"  # collector tokens
    MANAGE_GRANTS = "manage_grants"  # role grants


ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    Role.OWNER: frozenset({"view", "operate", "approve", "manage_inventory", "manage_tokens", "manage_grants"}),
    Role.OPS_MANAGER: frozenset({"view", "operate", "approve", "manage_inventory", "manage_tokens", "manage_grants"}),
    Role.NOC: frozenset({"view", "operate", "approve"}),
    Role.TECHNICIAN: frozenset({"view", "operate"}),
    Role.CUSTOMER_SUCCESS: frozenset({"view"}),
    Role.CUSTOMER: frozenset({"view"}),
}


@dataclass(frozen=True)
class UserScope:
    is_authenticated: bool = False
    is_platform: bool = False
    # capability -> scope it holds at
    all_sites: frozenset[str] = frozenset()
    site_ids: dict[str, frozenset[int]] = field(default_factory=dict)
    zone_ids: dict[str, frozenset[int]] = field(default_factory=dict)
    customer_tenant_ids: frozenset[int] = frozenset()
    #: object grants: tenant id -> the miner groups of it the customer is limited to
    customer_group_ids: dict[int, frozenset[int]] = field(default_factory=dict)

    @property
    def is_operator(self) -> bool:
        return self.is_platform or bool(self.all_sites or self.site_ids or self.zone_ids)

    @property
    def has_customer_side(self) -> bool:
        return bool(self.customer_tenant_ids or self.customer_group_ids)

    @property
    def is_customer(self) -> bool:
        return self.has_customer_side and not self.is_operator

    def customer_miner_q(self, tenant_field: str = "tenant", miner_field: str = "pk") -> Q:
        """The customer side of this scope on miners (or on rows naming a tenant and a miner, with
        these field names): all of a whole tenant's, only the granted groups' of a group-limited
        one. Matches nothing when there is no customer side."""
        q = Q(**{f"{tenant_field}__in": self.customer_tenant_ids}) if self.customer_tenant_ids else Q(pk__in=[])
        through = MinerGroup.miners.through
        for tenant_id, groups in sorted(self.customer_group_ids.items()):
            members = through.objects.filter(minergroup_id__in=groups).values("miner_id")
            q |= Q(**{f"{tenant_field}": tenant_id, f"{miner_field}__in": members})
        return q

    @property
    def customer_tenants_all(self) -> frozenset[int]:
        """Every tenant the customer side reaches, whole or by miner groups."""
        return self.customer_tenant_ids | frozenset(self.customer_group_ids)

    def has(self, capability: str) -> bool:
        """Holds the capability somewhere (not necessarily on a given object)."""
        return (
            self.is_platform
            or capability in self.all_sites
            or capability in self.site_ids
            or capability in self.zone_ids
        )


ANONYMOUS = UserScope()


def scope_for(user) -> UserScope:
    """One query per user per request (cached on the user object)."""
    if user is None or not user.is_authenticated or not user.is_active or getattr(user, "pk", None) is None:
        return ANONYMOUS  # anonymous, inactive, or a collector principal: no user scope
    cached = getattr(user, "_hi_scope", None)
    if cached is not None:
        return cached
    all_sites: set[str] = set()
    sites: dict[str, set[int]] = {}
    zones: dict[str, set[int]] = {}
    tenants: set[int] = set()
    groups: dict[int, set[int]] = {}
    for role, every_site, site_id, zone_id, tenant_id, group_id in _grant_rows(user):
        if role == Role.CUSTOMER:
            assert tenant_id is not None  # the check constraints: a customer grant names its tenant
            if group_id is None:
                tenants.add(tenant_id)
            else:
                groups.setdefault(tenant_id, set()).add(group_id)
            continue
        for cap in ROLE_CAPABILITIES[role]:
            if every_site:
                all_sites.add(cap)
            elif zone_id:
                zones.setdefault(cap, set()).add(zone_id)
            else:
                assert site_id is not None  # the check constraint: neither all sites nor a zone → one site
                sites.setdefault(cap, set()).add(site_id)
    scope = UserScope(
        is_authenticated=True,
        is_platform=user.is_superuser,
        all_sites=frozenset(all_sites),
        site_ids={k: frozenset(v) for k, v in sites.items()},
        zone_ids={k: frozenset(v) for k, v in zones.items()},
        customer_tenant_ids=frozenset(tenants),
        # A group grant of a tenant the user also holds whole adds nothing.
        customer_group_ids={t: frozenset(g) for t, g in groups.items() if t not in tenants},
    )
    user._hi_scope = scope
    return scope


def live_object_grants(now=None) -> QuerySet[ObjectGrant]:
    """Object grants in force at `now`: neither revoked nor expired, and expires_at still ahead."""
    now = now or timezone.now()
    return ObjectGrant.objects.filter(revoked_at__isnull=True, expired_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


_GRANT_COLUMNS = ("g_role", "g_all", "g_site", "g_zone", "g_tenant", "g_group")


def _grant_rows(user) -> list[tuple]:
    """The user's role grants and live object grants, as (role, all_sites, site, zone, tenant,
    group) rows: one UNION ALL query."""
    roles = RoleGrant.objects.filter(user=user).annotate(
        g_role=F("role"),
        g_all=F("all_sites"),
        g_site=F("site_id"),
        g_zone=F("zone_id"),
        g_tenant=F("tenant_id"),
        g_group=Value(None, output_field=BigIntegerField()),
    )
    objects = (
        live_object_grants()
        .filter(user=user)
        .annotate(
            g_role=F("role"),
            g_all=Value(False, output_field=BooleanField()),
            g_site=Value(None, output_field=BigIntegerField()),
            g_zone=F("zone_id"),
            g_tenant=F("tenant_id"),
            g_group=F("miner_group_id"),
        )
    )
    union = roles.values_list(*_GRANT_COLUMNS).union(objects.values_list(*_GRANT_COLUMNS), all=True)
    return list(union)


def _everywhere(scope: UserScope, capability: str) -> bool:
    return scope.is_platform or capability in scope.all_sites


# --- querysets -----------------------------------------------------------------------------------


def sites_for(user, capability: str = Capability.VIEW) -> QuerySet[Site]:
    scope = scope_for(user)
    qs = Site.objects.all()
    if _everywhere(scope, capability):
        return qs
    cond = Q(pk__in=scope.site_ids.get(capability, ())) | Q(zones__in=scope.zone_ids.get(capability, ()))
    if capability == Capability.VIEW and scope.has_customer_side:
        cond |= Q(Exists(Miner.objects.filter(scope.customer_miner_q(), site=OuterRef("pk"))))
    return qs.filter(pk__in=Site.objects.filter(cond).values("pk"))


def zones_for(user, capability: str = Capability.VIEW) -> QuerySet[Zone]:
    scope = scope_for(user)
    qs = Zone.objects.all()
    if _everywhere(scope, capability):
        return qs
    cond = Q(site__in=scope.site_ids.get(capability, ())) | Q(pk__in=scope.zone_ids.get(capability, ()))
    if capability == Capability.VIEW and scope.has_customer_side:
        cond |= Q(Exists(Miner.objects.filter(scope.customer_miner_q(), zone=OuterRef("pk"))))
    return qs.filter(cond)


def miners_for(user, capability: str = Capability.VIEW) -> QuerySet[Miner]:
    scope = scope_for(user)
    qs = Miner.objects.all()
    if _everywhere(scope, capability):
        return qs
    cond = Q(site__in=scope.site_ids.get(capability, ())) | Q(zone__in=scope.zone_ids.get(capability, ()))
    if capability == Capability.VIEW and scope.has_customer_side:
        cond |= scope.customer_miner_q()
    return qs.filter(cond)


def tenants_for(user, capability: str = Capability.VIEW) -> QuerySet[Tenant]:
    """Operators of a site see the tenants with miners there; customers see their own tenants."""
    scope = scope_for(user)
    qs = Tenant.objects.all()
    if _everywhere(scope, capability):
        return qs
    cond = Q(Exists(miners_for(user, capability).filter(tenant=OuterRef("pk"))))
    if capability == Capability.VIEW and scope.has_customer_side:
        cond |= Q(pk__in=scope.customer_tenants_all)
    return qs.filter(cond)


def collectors_for(user, capability: str = Capability.VIEW) -> QuerySet[Collector]:
    """Operator-only: customers see no collectors."""
    scope = scope_for(user)
    qs = Collector.objects.all()
    if _everywhere(scope, capability):
        return qs
    return qs.filter(Q(site__in=scope.site_ids.get(capability, ())) | Q(zone__in=scope.zone_ids.get(capability, ())))


def collector_tokens_for(user, capability: str = Capability.VIEW) -> QuerySet[CollectorToken]:
    return CollectorToken.objects.filter(collector__in=collectors_for(user, capability))


def site_edge_security_for(user, capability: str = Capability.VIEW) -> QuerySet[SiteEdgeSecurity]:
    return SiteEdgeSecurity.objects.filter(site__in=sites_for(user, capability))


def collector_certificates_for(user, capability: str = Capability.VIEW) -> QuerySet[CollectorCertificate]:
    return CollectorCertificate.objects.filter(collector__in=collectors_for(user, capability))


def site_aliases_for(user, capability: str = Capability.VIEW) -> QuerySet[SiteAlias]:
    return SiteAlias.objects.filter(site__in=sites_for(user, capability))


def miner_groups_for(user, capability: str = Capability.VIEW) -> QuerySet[MinerGroup]:
    scope = scope_for(user)
    qs = MinerGroup.objects.all()
    if _everywhere(scope, capability):
        return qs
    return qs.filter(site__in=scope.site_ids.get(capability, ()))


def role_grants_for(user, capability: str = Capability.MANAGE_GRANTS) -> QuerySet[RoleGrant]:
    """Grant managers see grants at their sites and zones, and customer grants of tenants they see."""
    scope = scope_for(user)
    qs = RoleGrant.objects.all()
    if _everywhere(scope, capability):
        return qs
    sites = scope.site_ids.get(capability, frozenset())
    return qs.filter(
        Q(site__in=sites, all_sites=False) | Q(zone__site__in=sites) | Q(tenant__in=tenants_for(user, capability))
    )


#: Upper floors name the audit entities of theirs that belong to zones (control: commands), so
#: that a zone-limited operator's audit list finds them: f(zone_ids) -> (entity_type, QuerySet of
#: one text column, the entity ids).
ZONE_AUDIT_ENTITIES: list = []


def _zone_entity_q(zone_ids) -> Q:
    """Audit events about a zone, its miners, collectors and miner groups (and what upper floors registered)."""
    text = CharField()
    sources = [
        ("tenants.zone", Zone.objects.filter(pk__in=zone_ids)),
        ("tenants.miner", Miner.objects.filter(zone__in=zone_ids)),
        ("tenants.collector", Collector.objects.filter(zone__in=zone_ids)),
    ]
    q = Q(pk__in=[])
    for entity_type, rows in sources:
        q |= Q(entity_type=entity_type, entity_id__in=rows.annotate(k=Cast("pk", text)).values("k"))
    for source in ZONE_AUDIT_ENTITIES:
        entity_type, ids = source(zone_ids)
        q |= Q(entity_type=entity_type, entity_id__in=ids)
    return q


def audit_events_for(user):
    """Operators: events of the sites they see (site and tenant chains) — all of them at all-sites
    scope. An operator whose grant is a zone (a role or object grant) sees only the events about
    that zone's own objects, not the rest of its site."""
    from audit.models import AuditEvent

    scope = scope_for(user)
    qs = AuditEvent.objects.all()
    if _everywhere(scope, Capability.VIEW):
        return qs
    if not scope.is_operator:
        return qs.none()
    whole_sites = Site.objects.filter(pk__in=scope.site_ids.get(Capability.VIEW, ())).values("code")
    cond = Q(site_code__in=whole_sites)
    zone_ids = scope.zone_ids.get(Capability.VIEW, frozenset())
    if zone_ids:
        zone_sites = Site.objects.filter(zones__in=zone_ids).values("code")
        cond |= Q(site_code__in=zone_sites) & _zone_entity_q(zone_ids)
    return qs.filter(cond)


def object_grants_for(user, capability: str = Capability.MANAGE_GRANTS) -> QuerySet[ObjectGrant]:
    """Grant managers see the object grants on zones and miner groups of the sites (zones) they manage."""
    scope = scope_for(user)
    qs = ObjectGrant.objects.all()
    if _everywhere(scope, capability):
        return qs
    sites = scope.site_ids.get(capability, frozenset())
    return qs.filter(
        Q(zone__site__in=sites) | Q(zone__in=scope.zone_ids.get(capability, ())) | Q(miner_group__site__in=sites)
    )


def grantable_users_for(user, capability: str = Capability.MANAGE_GRANTS):
    """The users a grant manager may pick in a grant admin: everyone active for a platform or
    all-sites manager; otherwise the users of their own sites and tenants — those holding a role
    or object grant the manager sees."""
    users = get_user_model().objects.filter(is_active=True)
    scope = scope_for(user)
    if _everywhere(scope, capability):
        return users
    if not scope.has(capability):
        return users.none()
    held = Q(pk__in=role_grants_for(user, capability).values("user_id")) | Q(
        pk__in=object_grants_for(user, capability).values("user_id")
    )
    return users.filter(held)


# --- what the caller named, in scope or 403 ---------------------------------------------------------


def miner_or_site_q(user, capability: str) -> Q:
    """For an operator, rows about one miner (`miner`) or a whole site (`miner` null, `site`) in
    their scope: the miner's scope for the first, the site's for the second."""
    return Q(miner__in=miners_for(user, capability)) | Q(miner__isnull=True, site__in=sites_for(user, capability))


def object_get(qs: QuerySet, pk):
    """The row of `qs` (already scoped to the caller) with this pk; 403 FORBIDDEN otherwise —
    missing, out of scope and malformed ids answer the same."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Forbidden(FORBIDDEN_MESSAGE) from None
    found = qs.filter(pk=pk).first()
    if found is None:
        raise Forbidden(FORBIDDEN_MESSAGE)
    return found


def site_get(user, code: str) -> Site:
    """The site by its public code or an alias of it, if the user may see it; 403 FORBIDDEN
    otherwise (existing or not)."""
    site = site_by_code_or_alias(code, sites_for(user))
    if site is None:
        raise Forbidden(FORBIDDEN_MESSAGE)
    return site


def zone_get(user, site: Site, code: str) -> Zone:
    zone = zones_for(user).filter(site=site, code=code).first()
    if zone is None:
        raise Forbidden(FORBIDDEN_MESSAGE)
    return zone


def tenant_get(user, slug: str) -> Tenant:
    tenant = tenants_for(user).filter(slug=slug).first()
    if tenant is None:
        raise Forbidden(FORBIDDEN_MESSAGE)
    return tenant


def can(user, capability: str, obj) -> bool:
    """May the user use `capability` on this object? Same answer as the querysets above."""
    finder = {
        Site: sites_for,
        Zone: zones_for,
        Miner: miners_for,
        Tenant: tenants_for,
        Collector: collectors_for,
        CollectorToken: collector_tokens_for,
        MinerGroup: miner_groups_for,
        RoleGrant: role_grants_for,
        ObjectGrant: object_grants_for,
    }[type(obj)]
    return finder(user, capability).filter(pk=obj.pk).exists()


def can_grant(user, *, role: str, all_sites: bool = False, site=None, zone=None, tenant=None) -> bool:
    """May the user hand out this role grant (or invitation)? Only inside their own grant scope:
    a site's ops manager cannot mint an all-sites Owner, nor a grant at another site."""
    scope = scope_for(user)
    if _everywhere(scope, Capability.MANAGE_GRANTS):
        return True
    if all_sites:
        return False
    if role == Role.CUSTOMER:
        return tenant is not None and tenants_for(user, Capability.MANAGE_GRANTS).filter(pk=tenant.pk).exists()
    sites = scope.site_ids.get(Capability.MANAGE_GRANTS, frozenset())
    if zone is not None:
        return zone.site_id in sites or zone.pk in scope.zone_ids.get(Capability.MANAGE_GRANTS, frozenset())
    return site is not None and site.pk in sites


def can_object_grant(user, *, role: str, zone=None, miner_group=None, tenant=None) -> bool:
    """May the user hand out this object grant? A zone inside their grant scope; a miner group of
    a site they manage, for a tenant they manage."""
    scope = scope_for(user)
    if _everywhere(scope, Capability.MANAGE_GRANTS):
        return True
    if zone is not None:
        return can_grant(user, role=role, zone=zone)
    sites = scope.site_ids.get(Capability.MANAGE_GRANTS, frozenset())
    return (
        miner_group is not None
        and tenant is not None
        and miner_group.site_id in sites
        and tenants_for(user, Capability.MANAGE_GRANTS).filter(pk=tenant.pk).exists()
    )


def is_operator(user) -> bool:
    return scope_for(user).is_operator


__all__ = [
    "OPERATOR_ROLES",
    "Capability",
    "UserScope",
    "audit_events_for",
    "can",
    "can_grant",
    "can_object_grant",
    "collector_tokens_for",
    "collectors_for",
    "grantable_users_for",
    "is_operator",
    "live_object_grants",
    "miner_groups_for",
    "miners_for",
    "object_grants_for",
    "role_grants_for",
    "scope_for",
    "sites_for",
    "tenants_for",
    "zones_for",
]
