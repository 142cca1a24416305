"""The one choke point for "what may this user see, and where may they act" — as querysets.

Every API view, admin page, portal page, export and CLI asks here. Rules (SPEC §2):
- a platform superuser sees everything;
- operator roles see the sites (or zones) they are granted, or all sites;
- a Customer sees only miners whose current owner is one of their tenants, and the sites and
  zones those miners are in; Customers never act.
"""

from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q, QuerySet

from core.errors import Forbidden
from tenants.models import (
    OPERATOR_ROLES,
    Collector,
    CollectorCertificate,
    CollectorToken,
    Miner,
    MinerGroup,
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

    @property
    def is_operator(self) -> bool:
        return self.is_platform or bool(self.all_sites or self.site_ids or self.zone_ids)

    @property
    def is_customer(self) -> bool:
        return bool(self.customer_tenant_ids) and not self.is_operator

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
    for grant in RoleGrant.objects.filter(user=user).only("role", "all_sites", "site_id", "zone_id", "tenant_id"):
        if grant.role == Role.CUSTOMER:
            assert grant.tenant_id is not None  # the check constraint: a customer grant names its tenant
            tenants.add(grant.tenant_id)
            continue
        for cap in ROLE_CAPABILITIES[grant.role]:
            if grant.all_sites:
                all_sites.add(cap)
            elif grant.zone_id:
                zones.setdefault(cap, set()).add(grant.zone_id)
            else:
                assert grant.site_id is not None  # the check constraint: neither all sites nor a zone → one site
                sites.setdefault(cap, set()).add(grant.site_id)
    scope = UserScope(
        is_authenticated=True,
        is_platform=user.is_superuser,
        all_sites=frozenset(all_sites),
        site_ids={k: frozenset(v) for k, v in sites.items()},
        zone_ids={k: frozenset(v) for k, v in zones.items()},
        customer_tenant_ids=frozenset(tenants),
    )
    user._hi_scope = scope
    return scope


def _everywhere(scope: UserScope, capability: str) -> bool:
    return scope.is_platform or capability in scope.all_sites


# --- querysets -----------------------------------------------------------------------------------


def sites_for(user, capability: str = Capability.VIEW) -> QuerySet[Site]:
    scope = scope_for(user)
    qs = Site.objects.all()
    if _everywhere(scope, capability):
        return qs
    cond = Q(pk__in=scope.site_ids.get(capability, ())) | Q(zones__in=scope.zone_ids.get(capability, ()))
    if capability == Capability.VIEW and scope.customer_tenant_ids:
        cond |= Q(Exists(Miner.objects.filter(site=OuterRef("pk"), tenant__in=scope.customer_tenant_ids)))
    return qs.filter(pk__in=Site.objects.filter(cond).values("pk"))


def zones_for(user, capability: str = Capability.VIEW) -> QuerySet[Zone]:
    scope = scope_for(user)
    qs = Zone.objects.all()
    if _everywhere(scope, capability):
        return qs
    cond = Q(site__in=scope.site_ids.get(capability, ())) | Q(pk__in=scope.zone_ids.get(capability, ()))
    if capability == Capability.VIEW and scope.customer_tenant_ids:
        cond |= Q(Exists(Miner.objects.filter(zone=OuterRef("pk"), tenant__in=scope.customer_tenant_ids)))
    return qs.filter(cond)


def miners_for(user, capability: str = Capability.VIEW) -> QuerySet[Miner]:
    scope = scope_for(user)
    qs = Miner.objects.all()
    if _everywhere(scope, capability):
        return qs
    cond = Q(site__in=scope.site_ids.get(capability, ())) | Q(zone__in=scope.zone_ids.get(capability, ()))
    if capability == Capability.VIEW and scope.customer_tenant_ids:
        cond |= Q(tenant__in=scope.customer_tenant_ids)
    return qs.filter(cond)


def tenants_for(user, capability: str = Capability.VIEW) -> QuerySet[Tenant]:
    """Operators of a site see the tenants with miners there; customers see their own tenants."""
    scope = scope_for(user)
    qs = Tenant.objects.all()
    if _everywhere(scope, capability):
        return qs
    cond = Q(Exists(miners_for(user, capability).filter(tenant=OuterRef("pk"))))
    if capability == Capability.VIEW and scope.customer_tenant_ids:
        cond |= Q(pk__in=scope.customer_tenant_ids)
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


def audit_events_for(user):
    """Operators: events of the sites they see (site and tenant chains) — all of them at all-sites scope."""
    from audit.models import AuditEvent

    scope = scope_for(user)
    qs = AuditEvent.objects.all()
    if _everywhere(scope, Capability.VIEW):
        return qs
    if not scope.is_operator:
        return qs.none()
    codes = sites_for(user).values("code")
    return qs.filter(site_code__in=codes)


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


def is_operator(user) -> bool:
    return scope_for(user).is_operator


__all__ = [
    "OPERATOR_ROLES",
    "Capability",
    "UserScope",
    "audit_events_for",
    "can",
    "can_grant",
    "collector_tokens_for",
    "collectors_for",
    "is_operator",
    "miner_groups_for",
    "miners_for",
    "role_grants_for",
    "scope_for",
    "sites_for",
    "tenants_for",
    "zones_for",
]
