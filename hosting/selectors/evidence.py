"""Who may have which evidence pack (ABAC, SPEC §9), through tenants.scoping:

- a Customer, for a tenant of theirs that owned miners at the site during the period (the owner at
  the time, like every downtime figure); the pack then holds that tenant's miners only;
- an operator with site-level view of the site (all sites, or a grant on the site itself — a zone
  grant sees part of a site, a pack covers the whole of it), for a tenant with miners there;
- anything else — a site where the tenant had no miners, another tenant, a pack id that is not
  theirs or does not exist — is 403 FORBIDDEN, the same words either way."""

import datetime as dt

from django.conf import settings
from django.db.models import Q, QuerySet

from core.errors import Forbidden, InvalidParameter
from hosting.evidence.context import owned_miner_pks
from hosting.models import EvidencePack
from tenants import scoping
from tenants.models import Site, Tenant
from tenants.scoping import FORBIDDEN_MESSAGE, Capability
from tenants.site_identity import site_by_code_or_alias


def evidence_period_check(start: dt.datetime, end: dt.datetime) -> None:
    if end <= start:
        raise InvalidParameter("`to` must be after `from`", field="to")
    if end - start > dt.timedelta(days=settings.EVIDENCE_PACK_MAX_DAYS):
        raise InvalidParameter(f"period longer than {settings.EVIDENCE_PACK_MAX_DAYS} days", field="to")


def _site_level_sites(user) -> Q:
    scope = scoping.scope_for(user)
    if scope.is_platform or Capability.VIEW in scope.all_sites:
        return Q()
    return Q(pk__in=scope.site_ids.get(Capability.VIEW, ()))


def evidence_scope_get(user, *, site_code: str, tenant_slug: str, start: dt.datetime, end: dt.datetime):
    """(site, tenant) the user may have a pack of, or Forbidden; tenant_slug may be empty for a
    customer whose one tenant had miners at the site."""
    scope = scoping.scope_for(user)
    site = site_by_code_or_alias(site_code)
    if site is None:
        raise Forbidden(FORBIDDEN_MESSAGE)
    if scope.is_operator:
        if not Site.objects.filter(_site_level_sites(user), pk=site.pk).exists():
            raise Forbidden(FORBIDDEN_MESSAGE)
        if not tenant_slug:
            raise InvalidParameter("an operator names the tenant (`tenant`: its slug)", field="tenant")
        candidates = list(Tenant.objects.filter(slug=tenant_slug))
    else:
        candidates = list(Tenant.objects.filter(pk__in=scope.customer_tenant_ids).order_by("slug"))
        if tenant_slug:
            candidates = [t for t in candidates if t.slug == tenant_slug]
    owners = [t for t in candidates if owned_miner_pks(t, site, start, end)]
    if not owners:
        raise Forbidden(FORBIDDEN_MESSAGE)
    if len(owners) > 1:
        raise InvalidParameter("several of your tenants had miners there: name one (`tenant`)", field="tenant")
    return site, owners[0]


def evidence_packs_for(user) -> QuerySet[EvidencePack]:
    scope = scoping.scope_for(user)
    qs = EvidencePack.objects.select_related("site", "tenant", "requested_by")
    if scope.is_operator:
        return qs.filter(site__in=Site.objects.filter(_site_level_sites(user)))
    return qs.filter(tenant_id__in=scope.customer_tenant_ids)


def evidence_pack_get(user, pk) -> EvidencePack:
    return scoping.object_get(evidence_packs_for(user), pk)
