"""Which database miner, and which owner at sample time, each record belongs to (SPEC §2)."""

import datetime as dt
from collections import defaultdict
from operator import itemgetter

from django.conf import settings
from django.db import connection

from audit.services import Actor
from tenants.models import Miner, MinerOwnership, Tenant, Zone
from tenants.services import miners_register


def miners_resolve(
    *, site, rows: list[dict], actor: Actor, zone_code: str = "", collector_zone=None
) -> tuple[dict, list[str], set[str]]:
    """{edge miner_id: (miner pk, current tenant id)} for every miner of the rows, registering
    the unknown ones into the site as unassigned (owned by the operator tenant) with one audit
    event listing them. Returns the map, the ids newly registered, and the ids refused because
    registration on first sight is capped (`registration_allowance`): those stay unknown.

    Registration commits on its own, before the upload's write transaction: a miner the field
    reports is inventory even if that upload fails later, and the operator chain's head lock is
    not held across the telemetry writes (two uploads cannot then lock chains in opposite order).
    """
    wanted = {row["miner"] for row in rows}
    known = _miners_of(site.pk, wanted)
    missing = sorted(wanted - known.keys())
    registered: list[str] = []
    refused: set[str] = set()
    if missing:
        operator = Tenant.objects.filter(is_operator=True).first()
        if operator is None:
            return known, registered, refused
        allowed = registration_allowance(site.pk)
        if len(missing) > allowed:
            refused = set(missing[allowed:])
            missing = missing[:allowed]
        if not missing:
            return known, registered, refused
        zone = collector_zone or (Zone.objects.filter(site=site, code=zone_code).first() if zone_code else None)
        keys: dict[str, str] = {}
        for row in rows:
            keys.setdefault(row["miner"], row["miner_key"])
        # Sorted ids: two collectors registering overlapping sets lock the unique index in one order.
        fresh = miners_register(
            actor=actor,
            site=site,
            tenant=operator,
            rows=[{"miner_id": mid, "zone": zone, "miner_key": keys[mid]} for mid in missing],
            reason="reported by collector",
        )
        registered = sorted(m.miner_id for m in fresh)
        # A concurrent upload may have registered some of them first: read back whatever exists now.
        known.update(_miners_of(site.pk, missing))
    return known, registered, refused


def registration_allowance(site_id: int) -> int:
    """How many unknown miners one upload may still register at the site: at most
    MINER_AUTO_REGISTER_MAX_PER_UPLOAD, and never past MINER_AUTO_REGISTER_MAX_PER_SITE miners
    at the site in all (a leaked or buggy collector token cannot fill the inventory with phantoms)."""
    room = settings.MINER_AUTO_REGISTER_MAX_PER_SITE - Miner.objects.filter(site_id=site_id).count()
    return max(0, min(settings.MINER_AUTO_REGISTER_MAX_PER_UPLOAD, room))


def _pg_text_array(values) -> str:
    """A text[] literal: one parameter instead of thousands of IN placeholders (5,000 ids per upload)."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


def _miners_of(site_id: int, miner_ids) -> dict:
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT id, miner_id, tenant_id FROM {Miner._meta.db_table} "
            "WHERE site_id = %s AND miner_id = ANY(%s::text[])",
            [site_id, _pg_text_array(miner_ids)],
        )
        return {mid: (pk, tenant) for pk, mid, tenant in cur.fetchall()}


def owners_at(*, site, miners: dict, rows: list[dict], since: dt.datetime) -> list[int]:
    """The owner of each row's miner at the row's time: the ownership interval containing ts,
    else the miner's current tenant. Only closed intervals ending after `since` can differ from
    the current owner, and there are usually none."""
    history = defaultdict(list)
    for miner, tenant, start, end in MinerOwnership.objects.filter(miner__site=site, valid_to__gt=since).values_list(
        "miner_id", "tenant_id", "valid_from", "valid_to"
    ):
        history[miner].append((start, end, tenant))
    if not history:  # the usual case: every row belongs to its miner's current tenant
        return [miners[miner][1] for miner in map(itemgetter("miner"), rows)]
    out = []
    for row in rows:
        pk, current = miners[row["miner"]]
        tenant = current
        for start, end, owner in history.get(pk, ()):
            if start <= row["ts"] < end:
                tenant = owner
                break
        out.append(tenant)
    return out
