"""Which site a value sent on the wire names: the site's code or one of its aliases (SiteAlias).

The one resolver for X-Site-ID, the envelope's site_id and path/query site ids. The site of a
collector request still comes from its token; these only say whether the value the collector
sent is a name of that site. Values are compared exactly (case-sensitive), as the collector sends them.
"""

from django.contrib.postgres.expressions import ArraySubquery
from django.db import IntegrityError, connection, transaction
from django.db.models import OuterRef, Q, QuerySet

from audit.services import Actor, audit_record
from core.errors import Conflict, InvalidParameter
from tenants.collector_auth_cache import collector_auth_cache_invalidate
from tenants.models import Site, SiteAlias

SITE_ALIAS_MAX_LENGTH = 64  # SiteAlias.value
# Set on a Site instance by alias_values_preload: its alias values, so a check costs no query.
_PRELOADED = "_alias_values"


def alias_values_subquery(site_ref: str) -> ArraySubquery:
    """An annotation with the alias values of the site at `site_ref` (an OuterRef path), so the
    query that already reads the site (the collector token lookup) brings its aliases along."""
    return ArraySubquery(SiteAlias.objects.filter(site_id=OuterRef(site_ref)).order_by().values("value"))


def alias_values_preload(site: Site, values) -> None:
    setattr(site, _PRELOADED, frozenset(values or ()))


def site_matches(site: Site, value: str) -> bool:
    """Is `value` the code or an alias of `site`? No query when the aliases were preloaded."""
    if value == site.code:
        return True
    if not value:
        return False
    known = getattr(site, _PRELOADED, None)
    if known is not None:
        return value in known
    return SiteAlias.objects.filter(site_id=site.pk, value=value).exists()


def site_named_q(value: str, field: str = "") -> Q:
    """Rows whose site (reached through `field`; '' for Site itself) has `value` as code or alias."""
    prefix = f"{field}__" if field else ""
    aliased = SiteAlias.objects.filter(value=value).values("site_id")
    return Q(**{f"{prefix}code": value}) | Q(**{f"{prefix}pk__in": aliased})


def site_by_code_or_alias(value: str, scope: QuerySet[Site] | None = None) -> Site | None:
    """The site of `scope` (default: every site) whose code or alias is `value`, in one query."""
    if not value:
        return None
    qs = Site.objects.all() if scope is None else scope
    return qs.filter(site_named_q(value)).first()


def site_identity_lock(value: str) -> None:
    """Serialise the writes that give a site a name (a new Site.code, a new alias) per value: a
    code and an alias are in two tables, so no constraint can keep them apart by itself."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('tenants.site_identity'), hashtext(%s))", [value])


def site_name_taken(value: str, *, site: Site | None = None) -> str:
    """Why `value` cannot become a name of `site` ('' when it can)."""
    others = Site.objects.filter(code=value)
    if site is not None:
        others = others.exclude(pk=site.pk)
    other = others.values_list("code", flat=True).first()
    if other is not None:
        return f"{value!r} is the code of site {other}"
    alias = SiteAlias.objects.filter(value=value).select_related("site").first()
    if alias is not None and (site is None or alias.site_id != site.pk):
        return f"{value!r} is an alias of site {alias.site.code}"
    return ""


@transaction.atomic
def site_alias_add(
    *, actor: Actor, site: Site, value: str, kind: str = SiteAlias.Kind.CONFIGURED, note: str = "", created_by=None
) -> SiteAlias:
    """Give a site another name. Re-adding an alias the site already has returns it unchanged."""
    value = (value or "").strip()
    if not value or len(value) > SITE_ALIAS_MAX_LENGTH:
        raise InvalidParameter("an alias is 1 to 64 characters", field="value")
    if kind not in SiteAlias.Kind.values:
        raise InvalidParameter(f"kind is one of {', '.join(SiteAlias.Kind.values)}", field="kind")
    site_identity_lock(value)
    if value == site.code:
        raise Conflict(f"{value!r} is already this site's code", error_code="SITE_ALIAS_TAKEN", field="value")
    existing = SiteAlias.objects.filter(site=site, value=value).first()
    if existing is not None:
        return existing
    reason = site_name_taken(value, site=site)
    if reason:
        raise Conflict(reason, error_code="SITE_ALIAS_TAKEN", field="value")
    try:
        with transaction.atomic():
            alias = SiteAlias.objects.create(site=site, value=value, kind=kind, note=note, created_by=created_by)
    except IntegrityError as exc:
        raise Conflict(f"{value!r} is already an alias", error_code="SITE_ALIAS_TAKEN", field="value") from exc
    collector_auth_cache_invalidate()  # the site's aliases come with its cached tokens
    audit_record(
        actor=actor,
        action="tenants.site_alias.added",
        entity=site,
        payload={"site": site.code, "value": value, "kind": kind, "note": note},
        site_code=site.code,
    )
    return alias


@transaction.atomic
def site_alias_remove(*, actor: Actor, alias: SiteAlias) -> None:
    """Collectors that still send this value are refused (403 SITE_MISMATCH) from now on."""
    locked = SiteAlias.objects.select_for_update(of=("self",)).select_related("site").filter(pk=alias.pk).first()
    if locked is None:
        return
    site = locked.site
    payload = {"site": site.code, "value": locked.value, "kind": locked.kind, "note": locked.note}
    locked.delete()
    collector_auth_cache_invalidate()
    audit_record(actor=actor, action="tenants.site_alias.removed", entity=site, payload=payload, site_code=site.code)
