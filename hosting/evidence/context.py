"""What one build knows: whose pack, which site and period, and the miners that are theirs.

ABAC (SPEC §9): a pack of a shared site holds the requesting tenant's miners only — the miners
the tenant owned at the site at some time in the period, each with the rows of the time they
owned it (tier rows, intervals and commands carry the owner at the time). Every section reads
through the scoping selectors as the requesting person and then narrows to the tenant."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connections, transaction
from django.db.models import Q

from core.replica import read_alias
from tenants.models import MinerOwnership, Site, Tenant


@dataclass
class BuildContext:
    user: object
    tenant: Tenant
    site: Site
    start: dt.datetime
    end: dt.datetime
    now: dt.datetime
    progress: Callable[[int, str], None] = lambda pct, step: None
    miner_pks: list[int] = field(default_factory=list)

    def __post_init__(self):
        if not self.miner_pks:
            self.miner_pks = owned_miner_pks(self.tenant, self.site, self.start, self.end)

    @property
    def until(self) -> dt.datetime:
        """Figures run up to now at most: an open interval or a period reaching into the future."""
        return min(self.end, self.now)


def owned_miner_pks(tenant: Tenant, site: Site, start: dt.datetime, end: dt.datetime) -> list[int]:
    """The miners of `site` the tenant owned at some time in [start, end)."""
    return sorted(
        set(
            MinerOwnership.objects.filter(tenant=tenant, miner__site=site, valid_from__lt=end)
            .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=start))
            .values_list("miner_id", flat=True)
        )
    )


def stream_sql(sql: str, params, *, name: str, itersize: int = 5000):
    """Rows of `sql` from a server-side cursor in one transaction: bounded memory, one snapshot."""
    alias = read_alias()  # the replica inside the pack's replica scope (core/replica.py)
    conn = connections[alias]
    conn.ensure_connection()
    with transaction.atomic(using=alias), conn.connection.cursor(name=name) as cur:
        cur.itersize = itersize
        cur.execute(sql, params)
        yield from cur
