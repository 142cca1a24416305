"""Writes of the switch-over import (manage.py import_original, hashinsight.ops.switchover): the
original application's sites, customers, miners and collector keys become this cloud's.

Idempotent by mapping: every source row that became an object is recorded (ImportedRow), so a
re-run finds it and creates nothing. A site the operator already created and aliased with the
original's numeric id (docs/COMPATIBILITY.md, runbook step 1) is adopted, not duplicated; a miner
that a collector already registered at that site (into the operator tenant) is adopted and moved to
its customer. Bad source rows are skipped with a reason, never fatal.

Audited as one `switchover.imported` event per chain (a site's, a tenant's) listing what came
across; site aliases, legacy keys and owner changes keep their own events (tenants.site_alias.added,
tenants.collector_token.legacy_imported, tenants.miner.owner_changed), as they do when made by hand.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from audit.services import Actor, EventSpec, audit_record_many
from core.errors import DomainError
from tenants.models import (
    Collector,
    ImportCheckpoint,
    ImportedRow,
    Miner,
    MinerOwnership,
    Role,
    RoleGrant,
    Site,
    SiteAlias,
    Tenant,
    Zone,
)
from tenants.models.inventory import code_validator
from tenants.services import collector_legacy_key_import, collector_token_revoke, miner_assign_owner
from tenants.site_identity import site_alias_add, site_identity_lock, site_name_taken

ACTION = "switchover.imported"


@dataclass(frozen=True)
class SourceSite:
    id: int
    name: str
    slug: str


@dataclass(frozen=True)
class SourceCustomer:
    id: int
    name: str
    email: str
    company: str = ""


@dataclass(frozen=True)
class SourceMiner:
    id: int
    site_id: int
    customer_id: int
    serial: str
    zone: str = ""  # a zone code ("" for none)
    model: str = ""
    nominal_hashrate_ths: float | None = None
    nominal_power_w: float | None = None
    since: dt.datetime | None = None  # when the original registered it: the ownership starts then


@dataclass(frozen=True)
class SourceKey:
    id: int
    site_id: int
    name: str
    key_hash: str
    is_active: bool = True


@dataclass
class TableCounts:
    read: int = 0
    created: int = 0
    existing: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source id, reason)

    def as_dict(self) -> dict:
        return {"read": self.read, "created": self.created, "existing": self.existing, "skipped": len(self.skipped)}


@dataclass
class InventoryReport:
    tables: dict[str, TableCounts] = field(default_factory=lambda: defaultdict(TableCounts))
    events: int = 0

    def skip(self, table: str, source_id, reason: str) -> None:
        self.tables[table].skipped.append((str(source_id), reason))


class _Chains:
    """What came across, per audit chain, for the one event each gets."""

    def __init__(self):
        self.sites: dict[int, dict] = {}
        self.tenants: dict[int, dict] = {}

    def site(self, site: Site) -> dict:
        return self.sites.setdefault(site.pk, {"site": site.code, "created": defaultdict(int)})

    def tenant(self, tenant: Tenant) -> dict:
        return self.tenants.setdefault(tenant.pk, {"tenant": tenant.slug, "created": defaultdict(int)})


def _mapped(source: str, table: str) -> dict[str, int]:
    rows = ImportedRow.objects.filter(source=source, source_table=table).values_list("source_id", "target_id")
    return {sid: int(tid) for sid, tid in rows}


def _record(source: str, table: str, source_id, obj) -> None:
    ImportedRow.objects.create(
        source=source,
        source_table=table,
        source_id=str(source_id),
        target_type=f"{obj._meta.app_label}.{obj._meta.model_name}",
        target_id=str(obj.pk),
    )


def _valid_code(value: str) -> str:
    value = (value or "").strip()
    try:
        code_validator(value)
    except ValidationError:
        return ""
    return value


def _sites(source: str, rows: list[SourceSite], report: InventoryReport, chains: _Chains, actor) -> dict[int, Site]:
    counts = report.tables["sites"]
    mapped = _mapped(source, "hosting_sites")
    known = Site.objects.in_bulk(set(mapped.values()))
    out: dict[int, Site] = {}
    for row in rows:
        counts.read += 1
        site = known.get(mapped.get(str(row.id), -1))
        legacy = str(row.id)
        if site is None:
            alias = SiteAlias.objects.filter(value=legacy).select_related("site").first()
            site = alias.site if alias is not None else None
            if site is not None:
                _record(source, "hosting_sites", row.id, site)
        if site is not None:
            counts.existing += 1
        else:
            code = _valid_code(row.slug) or _valid_code(slugify(row.name))
            if not code:
                report.skip("sites", row.id, f"no usable site code in slug {row.slug!r} or name {row.name!r}")
                continue
            site_identity_lock(code)
            taken = site_name_taken(code)
            if taken:
                report.skip("sites", row.id, f"{taken}: alias that site with {legacy!r} to import into it")
                continue
            site = Site.objects.create(code=code, name=(row.name or code)[:200])
            _record(source, "hosting_sites", row.id, site)
            counts.created += 1
            chains.site(site)["created"]["site"] += 1
        try:
            note = f"original hosting_sites.id ({source})"[:200]
            before = SiteAlias.objects.filter(site=site, value=legacy).exists()
            site_alias_add(actor=actor, site=site, value=legacy, kind=SiteAlias.Kind.LEGACY_ID, note=note)
            if not before:
                chains.site(site)["created"]["alias"] += 1
        except DomainError as exc:
            report.skip("sites", row.id, f"original id alias not added: {exc.message}")
        chains.site(site)["original_id"] = row.id
        out[row.id] = site
    return out


def _zones(rows: list[SourceMiner], sites: dict[int, Site], report: InventoryReport, chains: _Chains):
    counts = report.tables["zones"]
    wanted = sorted({(row.site_id, row.zone) for row in rows if row.zone and row.site_id in sites})
    existing = {(z.site_id, z.code): z for z in Zone.objects.filter(site__in=[s.pk for s in sites.values()])}
    out: dict[tuple[int, str], Zone] = {}
    for site_id, code in wanted:
        counts.read += 1
        site = sites[site_id]
        zone = existing.get((site.pk, code))
        if zone is None:
            zone = Zone.objects.create(site=site, code=code, name=code)
            counts.created += 1
            chains.site(site)["created"]["zones"] += 1
        else:
            counts.existing += 1
        out[(site_id, code)] = zone
    return out


def _unique(model, fieldname: str, base: str, max_length: int) -> str:
    value, n = base[:max_length], 1
    while model.objects.filter(**{fieldname: value}).exists():
        n += 1
        value = f"{base[: max_length - len(str(n)) - 1]}-{n}"
    return value


def _customer(row: SourceCustomer, chains: _Chains) -> Tenant:
    User = get_user_model()
    display = (row.company or row.name or row.email).strip()
    tenant = Tenant.objects.create(
        slug=_unique(Tenant, "slug", slugify(display) or f"customer-{row.id}", 64), name=display[:200]
    )
    created = chains.tenant(tenant)["created"]
    created["tenant"] += 1
    email = row.email.strip().lower()
    user = User.objects.filter(email__iexact=email).order_by("pk").first() if email else None
    if user is None and email:
        # No password: the customer signs in through "forgot password" (or an invitation) by email.
        user = User(username=_unique(User, "username", email, 150), email=email, first_name=row.name[:150])
        user.set_unusable_password()
        user.save()
        created["user"] += 1
    if user is not None:
        _, made = RoleGrant.objects.get_or_create(user=user, role=Role.CUSTOMER, tenant=tenant)
        created["grant"] += made
        chains.tenant(tenant)["user"] = user.email
    return tenant


def _customers(source, rows: list[SourceCustomer], report: InventoryReport, chains: _Chains) -> dict[int, Tenant]:
    counts = report.tables["customers"]
    mapped = _mapped(source, "user_access")
    known = Tenant.objects.in_bulk(set(mapped.values()))
    out: dict[int, Tenant] = {}
    for row in rows:
        counts.read += 1
        tenant = known.get(mapped.get(str(row.id), -1))
        if tenant is None:
            tenant = _customer(row, chains)
            _record(source, "user_access", row.id, tenant)
            counts.created += 1
        else:
            counts.existing += 1
        chains.tenant(tenant)["original_user_id"] = row.id
        out[row.id] = tenant
    return out


def _operator_tenant(chains: _Chains) -> Tenant:
    tenant = Tenant.objects.filter(is_operator=True).first()
    if tenant is None:
        tenant = Tenant.objects.create(slug=_unique(Tenant, "slug", "operator", 64), name="Operator", is_operator=True)
        chains.tenant(tenant)["created"]["tenant"] += 1
    return tenant


def _new_miner(row: SourceMiner, site: Site, zone: Zone | None, tenant: Tenant) -> Miner:
    hashrate = row.nominal_hashrate_ths
    power = row.nominal_power_w
    return Miner(
        site=site,
        zone=zone,
        tenant=tenant,
        miner_id=row.serial.strip(),
        model=(row.model or "")[:64],
        nominal_hashrate_ths=None if hashrate is None else Decimal(str(round(hashrate, 2))),
        nominal_power_w=None if power is None or power < 0 else int(round(power)),
    )


def _miners(source, rows, sites, zones, customers, operator_ids, report, chains, actor) -> None:
    counts = report.tables["miners"]
    mapped = _mapped(source, "hosting_miners")
    at_sites = {(m.site_id, m.miner_id): m for m in Miner.objects.filter(site__in=[s.pk for s in sites.values()])}
    by_pk = {m.pk: m for m in at_sites.values()}
    seen: set[tuple[int, str]] = set()
    operator: list[Tenant] = []  # looked up (or created) on the first miner that needs it
    new: list[tuple[SourceMiner, Miner]] = []
    moves: dict[int, list[Miner]] = defaultdict(list)
    for row in rows:
        counts.read += 1
        site = sites.get(row.site_id)
        serial = (row.serial or "").strip()
        if site is None:
            report.skip("miners", row.id, f"site {row.site_id} was not imported")
            continue
        if row.customer_id in operator_ids:
            operator = operator or [_operator_tenant(chains)]
            tenant = operator[0]
        elif row.customer_id in customers:
            tenant = customers[row.customer_id]
        else:
            report.skip("miners", row.id, f"customer {row.customer_id} was not imported")
            continue
        if not serial or len(serial) > 128:
            report.skip("miners", row.id, "serial number empty or longer than 128 characters")
            continue
        if (site.pk, serial) in seen:
            report.skip("miners", row.id, f"duplicate serial {serial!r} at site {site.code}")
            continue
        seen.add((site.pk, serial))
        miner = by_pk.get(mapped.get(str(row.id), -1)) or at_sites.get((site.pk, serial))
        if miner is not None:
            counts.existing += 1
            if str(row.id) not in mapped:  # registered by a collector before the import: adopted
                _record(source, "hosting_miners", row.id, miner)
                if miner.tenant_id != tenant.pk:
                    moves[tenant.pk].append(miner)
                chains.tenant(tenant).setdefault("adopted", []).append(serial)
            continue
        new.append((row, _new_miner(row, site, zones.get((row.site_id, row.zone)), tenant)))
    Miner.objects.bulk_create([m for _, m in new], batch_size=1000)  # PostgreSQL returns the pks
    now = timezone.now()
    MinerOwnership.objects.bulk_create(
        [MinerOwnership(miner=m, tenant_id=m.tenant_id, valid_from=min(r.since or now, now)) for r, m in new],
        batch_size=1000,
    )
    ImportedRow.objects.bulk_create(
        [
            ImportedRow(
                source=source,
                source_table="hosting_miners",
                source_id=str(r.id),
                target_type="tenants.miner",
                target_id=str(m.pk),
            )
            for r, m in new
        ],
        batch_size=1000,
    )
    counts.created += len(new)
    for _, miner in new:
        entry = chains.tenant(miner.tenant)
        entry["created"]["miners"] += 1
        entry.setdefault("miner_ids", []).append(f"{miner.site.code}/{miner.miner_id}")
    tenants = Tenant.objects.in_bulk(list(moves))
    for tenant_pk, miners in sorted(moves.items()):
        miner_assign_owner(actor=actor, miners=miners, tenant=tenants[tenant_pk])


def _keys(source, rows: list[SourceKey], sites: dict[int, Site], report: InventoryReport, chains, actor) -> None:
    counts = report.tables["keys"]
    for row in rows:
        counts.read += 1
        site = sites.get(row.site_id)
        name = (row.name or "").strip()[:128] or f"collector-{row.id}"
        if site is None:
            report.skip("keys", row.id, f"site {row.site_id} was not imported")
            continue
        collector = Collector.objects.filter(site=site, name=name).first()
        if collector is None:
            collector = Collector.objects.create(site=site, name=name)
            chains.site(site)["created"]["collectors"] += 1
        try:
            token, created = collector_legacy_key_import(
                actor=actor, collector=collector, key_sha256=row.key_hash, label=f"imported from {source}"[:128]
            )
        except DomainError as exc:
            report.skip("keys", row.id, exc.message)
            continue
        if not created:
            counts.existing += 1
            continue
        counts.created += 1
        chains.site(site)["created"]["keys"] += 1
        if not row.is_active:  # inactive in the original: it comes across revoked
            collector_token_revoke(actor=actor, token=token)
            chains.site(site)["created"]["keys_revoked"] += 1


def _audit(source: str, chains: _Chains, actor: Actor) -> int:
    events = []
    for site_pk, entry in sorted(chains.sites.items()):
        if any(entry["created"].values()):
            payload = {"phase": "inventory", "source": source, **entry, "created": dict(entry["created"])}
            events.append(EventSpec(ACTION, "tenants.site", str(site_pk), payload, site_code=entry["site"]))
    for tenant_pk, entry in sorted(chains.tenants.items()):
        if any(entry["created"].values()) or entry.get("adopted"):
            payload = {"phase": "inventory", "source": source, **entry, "created": dict(entry["created"])}
            events.append(EventSpec(ACTION, "tenants.tenant", str(tenant_pk), payload, tenant_id=tenant_pk))
    audit_record_many(actor=actor, events=events)
    return len(events)


@transaction.atomic
def switchover_inventory_import(
    *,
    actor: Actor,
    source: str,
    sites: list[SourceSite],
    customers: list[SourceCustomer],
    miners: list[SourceMiner],
    keys: list[SourceKey],
    operator_customer_ids: frozenset[int] = frozenset(),
) -> InventoryReport:
    """Bring the original's inventory across in one transaction (all of it, or none on an error
    that is not a bad row). Lists left empty are not imported (the mapping of earlier runs is
    still used for the others: miners find the sites imported before)."""
    report = InventoryReport()
    chains = _Chains()
    site_map = _sites(source, sites, report, chains, actor) if sites else switchover_site_map(source)
    customers = [c for c in customers if c.id not in operator_customer_ids]  # their miners are the operator's
    if customers:
        customer_map = _customers(source, customers, report, chains)
    else:
        tenants = Tenant.objects.in_bulk(set(_mapped(source, "user_access").values()))
        customer_map = {int(sid): tenants[tid] for sid, tid in _mapped(source, "user_access").items() if tid in tenants}
    if miners:
        zones = _zones(miners, site_map, report, chains)
        _miners(source, miners, site_map, zones, customer_map, operator_customer_ids, report, chains, actor)
    if keys:
        _keys(source, keys, site_map, report, chains, actor)
    report.events = _audit(source, chains, actor)
    return report


def switchover_site_map(source: str) -> dict[int, Site]:
    """Original site id → Site, from the earlier runs' mapping."""
    mapped = _mapped(source, "hosting_sites")
    sites = Site.objects.in_bulk(set(mapped.values()))
    return {int(sid): sites[tid] for sid, tid in mapped.items() if tid in sites}


def switchover_miner_map(source: str) -> dict[tuple[int, str], tuple[int, int, int]]:
    """(original site id, miner id on the wire) → (site pk, miner pk, owner tenant pk) for every
    miner at an imported site: the telemetry history names miners that way."""
    sites = {site.pk: orig for orig, site in switchover_site_map(source).items()}
    rows = Miner.objects.filter(site__in=list(sites)).values_list("site_id", "miner_id", "pk", "tenant_id")
    return {(sites[site], miner_id): (site, pk, tenant) for site, miner_id, pk, tenant in rows}


def import_checkpoint_get(*, source: str, table: str) -> ImportCheckpoint:
    return ImportCheckpoint.objects.filter(source=source, source_table=table).first() or ImportCheckpoint(
        source=source, source_table=table
    )


def import_checkpoint_set(*, source: str, table: str, last_id: int, rows: int) -> None:
    """Move a table's checkpoint, in the caller's transaction (the one that wrote those rows)."""
    ImportCheckpoint.objects.update_or_create(
        source=source, source_table=table, defaults={"last_id": last_id, "rows": rows}
    )
