"""Removing the fixture world after a run: `verify_tenant_isolation` leaves no scratch tenants,
sites, miners, collectors or users in the database it checked (issue 18).

Rows are found from the world's tenants, sites and users through the models' own relations, so a
table added later that points at a site is emptied too: PROTECT relations are deleted first (the
rows Django names in ProtectedError), CASCADE ones with their parent, and relations without a
database constraint (the telemetry tiers, DO_NOTHING) by their foreign key. The audit events the
run wrote stay: the chain is append-only (SPEC §9), and they name the world's `iso-<hex>` tag.
"""

from collections import defaultdict

from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models.deletion import ProtectedError, RestrictedError

from tenants.models import Site, Tenant

# A chain of PROTECT relations deeper than this is a cycle, not a world.
MAX_DEPTH = 20


def _unconstrained_delete(qs: models.QuerySet) -> None:
    """Rows of other tables that point at `qs` without a constraint Django acts on (DO_NOTHING)."""
    for rel in qs.model._meta.related_objects:
        if getattr(rel, "on_delete", None) is models.DO_NOTHING and rel.field.concrete:
            dependants = rel.related_model._base_manager.filter(**{f"{rel.field.name}__in": qs.values("pk")})
            dependants._raw_delete(dependants.db)


def _delete(qs: models.QuerySet, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise RuntimeError(f"isolation world cleanup: PROTECT chain deeper than {MAX_DEPTH} at {qs.model.__name__}")
    while True:
        _unconstrained_delete(qs)
        try:
            with transaction.atomic():
                qs.delete()
            return
        except (ProtectedError, RestrictedError) as exc:
            blockers = defaultdict(set)
            for obj in getattr(exc, "protected_objects", None) or exc.restricted_objects:
                blockers[type(obj)].add(obj.pk)
            for model, pks in blockers.items():
                _delete(model._base_manager.filter(pk__in=pks), depth + 1)


@transaction.atomic
def world_purge(tag: str) -> None:
    """Delete every row of the world named `tag` (tenants `<tag>-a/b/c`, sites `<tag>-SITE-X/Y`,
    users `<tag>-…@isolation.invalid`) and whatever points at them."""
    users = get_user_model()._base_manager.filter(
        username__startswith=f"{tag}-", username__endswith="@isolation.invalid"
    )
    sites = Site._base_manager.filter(code__startswith=f"{tag}-SITE-")
    tenants = Tenant._base_manager.filter(slug__startswith=f"{tag}-")
    for qs in (users, sites, tenants):
        _delete(qs)
