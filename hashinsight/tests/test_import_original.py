"""manage.py import_original against a database of the original application (issue 15): what comes
across and how it maps, a second run adds nothing, a dry run writes nothing, an interrupted run
ends where a whole one does, the rollups cover the imported days and the audit chains verify."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditEvent
from audit.verify import chain_keys, verify_chains
from hashinsight.ops.switchover.run import Options, import_original
from hashinsight.tests import original_fixture as fx
from telemetry.models import Telemetry1m, Telemetry15m, TelemetryDaily, TelemetryRaw
from tenants.models import (
    Collector,
    CollectorToken,
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

STATUS = "/api/collector/status"
CUSTOMER_MINERS = fx.GOOD_MINERS - 2
TELEMETRY = fx.HISTORY_ROWS + fx.OLD_TABLE_ROWS


@pytest.fixture(scope="module")
def original(django_db_blocker):
    with django_db_blocker.unblock():
        settings_dict = connection.settings_dict
        name = f"{settings_dict['NAME']}_original"[:63]
        made = fx.fixture_create(settings_dict, name)
        yield made
        fx.fixture_drop(settings_dict, name)


def run(original, **options):
    options.setdefault("operator_customer_ids", frozenset({fx.OPERATOR_USER}))
    return import_original(dsn=original.dsn, options=Options(**options))


def state() -> dict:
    """Everything the import writes, counted."""
    return {
        "sites": Site.objects.count(),
        "aliases": SiteAlias.objects.count(),
        "zones": Zone.objects.count(),
        "tenants": Tenant.objects.count(),
        "grants": RoleGrant.objects.count(),
        "miners": Miner.objects.count(),
        "ownerships": MinerOwnership.objects.count(),
        "collectors": Collector.objects.count(),
        "tokens": CollectorToken.objects.count(),
        "mapped": ImportedRow.objects.count(),
        "raw": TelemetryRaw.objects.count(),
        "1m": Telemetry1m.objects.count(),
        "15m": Telemetry15m.objects.count(),
        "daily": TelemetryDaily.objects.count(),
        "events": AuditEvent.objects.count(),
    }


def sums() -> tuple:
    """The aggregates of the tiers, to compare two end states value by value."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT (SELECT sum(samples) || ':' || sum(hashrate_5s_sum) || ':' || sum(temperature_max_sum) "
            "FROM telemetry_1m), (SELECT sum(samples) || ':' || sum(hashrate_5s_sum) FROM telemetry_15m), "
            "(SELECT sum(samples) || ':' || max(revision) FROM telemetry_daily)"
        )
        return cur.fetchone()


@pytest.mark.django_db
def test_the_original_comes_across(original, client):
    report = run(original)
    tables = report.inventory.tables
    assert {t: (c.created, c.existing, len(c.skipped)) for t, c in tables.items()} == {
        "sites": (3, 0, 0),
        "customers": (4, 0, 0),
        "zones": (6, 0, 0),
        "miners": (fx.GOOD_MINERS, 0, 3),
        "keys": (4, 0, 1),
    }
    reasons = dict(tables["miners"].skipped)
    assert reasons == {
        "51": "site 99 was not imported",
        "52": "duplicate serial 'SN0001' at site riverside",
        "53": "customer 99 was not imported",
    }
    assert "64 hex digits" in dict(tables["keys"].skipped)["5"]
    assert report.portfolio_entries == 3

    # Sites: code from the slug (or the name when the slug is no code), the numeric id an alias.
    codes = dict(SiteAlias.objects.filter(kind=SiteAlias.Kind.LEGACY_ID).values_list("value", "site__code"))
    assert codes == {"1": "north-hall", "2": "riverside", "3": "old-farm"}
    assert set(Zone.objects.values_list("site__code", "code")) == {
        (site, zone) for site in codes.values() for zone in "AB"
    }

    # Customers: a tenant each, a user with the Customer role there and no usable password.
    customers = Tenant.objects.filter(is_operator=False)
    assert sorted(customers.values_list("name", flat=True)) == [
        "Acme Hosting",
        "Blue River",
        "Customer 12",
        "Delta Mining",
    ]
    for grant in RoleGrant.objects.select_related("user", "tenant"):
        assert grant.role == Role.CUSTOMER and grant.tenant.miners.exists()
        assert not grant.user.has_usable_password()
    assert RoleGrant.objects.count() == 4

    # Miners: model and nominal figures from miner_models, zone from the rack, owner with history.
    miner = Miner.objects.select_related("site", "zone", "tenant").get(miner_id="SN0005")
    assert (miner.site.code, miner.zone.code, miner.tenant.name) == ("old-farm", "B", "Blue River")
    assert (miner.model, float(miner.nominal_hashrate_ths), miner.nominal_power_w) == ("WhatsMiner M30S", 88.0, 3344)
    assert Miner.objects.filter(tenant__is_operator=True).count() == 2
    assert Miner.objects.filter(tenant__is_operator=False).count() == CUSTOMER_MINERS
    open_rows = MinerOwnership.objects.filter(valid_to__isnull=True)
    assert open_rows.count() == fx.GOOD_MINERS
    assert all(o.tenant_id == o.miner.tenant_id for o in open_rows.select_related("miner"))

    # Keys: the collector keeps its key and its site_id (the original's numeric id); inactive is revoked.
    headers = {"HTTP_X_COLLECTOR_KEY": "orig-key-north", "HTTP_X_SITE_ID": "1", "HTTP_X_DEVICE_ID": "edge-1"}
    response = client.get(STATUS, **headers)
    assert response.status_code == 200, response.content
    assert response.json()["collector"] == "edge-north"
    retired = {**headers, "HTTP_X_COLLECTOR_KEY": "orig-key-retired"}
    assert client.get(STATUS, **retired).status_code == 401
    assert CollectorToken.objects.filter(kind=CollectorToken.Kind.LEGACY, revoked_at__isnull=False).count() == 1

    # Telemetry: every sample of a known miner in the raw tier, a 1m bucket a minute, rolled up.
    history, old = report.telemetry["miner_telemetry_history"], report.telemetry["miner_telemetry"]
    assert (history.read, history.inserted, history.unknown_miner, history.older_than_since) == (
        fx.HISTORY_ROWS + 10,
        fx.HISTORY_ROWS,
        10,
        5,
    )
    assert (old.read, old.inserted) == (fx.OLD_TABLE_ROWS, fx.OLD_TABLE_ROWS)
    assert TelemetryRaw.objects.count() == TELEMETRY
    assert Telemetry1m.objects.count() == TELEMETRY
    miners_with_history = len(fx.HISTORY_SERIALS) + 1
    assert TelemetryDaily.objects.count() == 2 * len(fx.HISTORY_SERIALS) + 1
    assert Telemetry15m.objects.count() == len(fx.HISTORY_SERIALS) * 2 * 96 + 4
    assert TelemetryDaily.objects.filter(samples=24 * 60).count() == 2 * len(fx.HISTORY_SERIALS)
    assert Telemetry1m.objects.values("miner_id").distinct().count() == miners_with_history
    sn1 = Miner.objects.get(miner_id="SN0001")
    assert set(Telemetry1m.objects.filter(miner=sn1).values_list("tenant_id", flat=True)) == {sn1.tenant_id}

    # Audit: one switchover.imported event per chain and phase, and every chain verifies.
    imported = AuditEvent.objects.filter(action="switchover.imported")
    inventory = imported.filter(payload__phase="inventory")
    assert sorted(inventory.values_list("chain_key", flat=True)) == sorted(
        [f"site:{code}" for code in codes.values()] + [f"tenant:{t.pk}" for t in Tenant.objects.all()]
    )
    telemetry = imported.filter(payload__phase="telemetry")
    owners = set(Miner.objects.filter(miner_id__in=[*fx.HISTORY_SERIALS, "SN0005"]).values_list("tenant_id", flat=True))
    assert sorted(telemetry.values_list("tenant_id", flat=True)) == sorted(owners)
    assert all(result.ok for result in verify_chains(chain_keys())), "an audit chain does not verify"


@pytest.mark.django_db
def test_a_second_run_adds_nothing(original):
    run(original)
    first, first_sums = state(), sums()
    report = run(original)
    assert state() == first and sums() == first_sums
    tables = report.inventory.tables
    assert {t: (c.created, c.existing) for t, c in tables.items()} == {
        "sites": (0, 3),
        "customers": (0, 4),
        "zones": (0, 6),
        "miners": (0, fx.GOOD_MINERS),
        "keys": (0, 4),
    }
    assert report.events == 0
    assert sum(c.read for c in report.telemetry.values()) == 0  # the checkpoint: nothing left to read


@pytest.mark.django_db
def test_a_run_from_scratch_of_imported_telemetry_inserts_nothing(original):
    """Even without the checkpoints (reset by hand), the raw tier's key keeps a re-read from
    storing anything twice, and the 1m buckets do not drift."""
    run(original)
    first, first_sums = state(), sums()
    ImportCheckpoint.objects.all().delete()
    report = run(original, only=frozenset({"telemetry"}))
    history = report.telemetry["miner_telemetry_history"]
    assert (history.inserted, history.existing) == (0, fx.HISTORY_ROWS)
    assert state() == first and sums() == first_sums


@pytest.mark.django_db
def test_a_dry_run_counts_and_writes_nothing(original):
    before = state()
    report = run(original, dry_run=True)
    assert state() == before
    assert ImportCheckpoint.objects.count() == 0
    tables = report.inventory.tables
    assert (tables["sites"].created, tables["miners"].created, tables["keys"].created) == (3, fx.GOOD_MINERS, 4)
    assert len(tables["miners"].skipped) == 3
    history = report.telemetry["miner_telemetry_history"]
    assert (history.read, history.unknown_miner, history.older_than_since) == (fx.HISTORY_ROWS + 10, 10, 5)
    out = StringIO()
    call_command("import_original", dsn=original.dsn, dry_run=True, stdout=out, stderr=StringIO())
    assert out.getvalue().startswith(f"dry run: nothing was written from {original.name!r}")
    assert state() == before


@pytest.mark.django_db
def test_an_interrupted_run_goes_on_to_the_same_end_state(original):
    report = run(original, batch=1000, limit=2500)
    assert not report.finished and TelemetryRaw.objects.count() == 2500
    assert ImportCheckpoint.objects.get(source_table="miner_telemetry_history").rows == 2500

    class Crash(Exception):
        pass

    def crash(done):
        if done >= 3000:
            raise Crash

    with pytest.raises(Crash):
        import_original(
            dsn=original.dsn,
            options=Options(batch=1000, operator_customer_ids=frozenset({fx.OPERATOR_USER})),
            after_batch=crash,
        )
    assert TelemetryRaw.objects.count() == 5500  # the batches committed before the crash stay
    report = run(original, batch=1000)
    assert report.finished
    resumed, resumed_sums = state(), sums()
    assert resumed["raw"] == resumed["1m"] == TELEMETRY
    # The same database imported in one go ends the same, values and all.
    for model in (TelemetryRaw, Telemetry1m, Telemetry15m, TelemetryDaily):
        model.objects.all().delete()
    ImportCheckpoint.objects.all().delete()
    with connection.cursor() as cur:
        cur.execute("DELETE FROM telemetry_rollup_watermark")
    run(original, only=frozenset({"telemetry"}))
    assert {k: v for k, v in state().items() if k != "events"} == {k: v for k, v in resumed.items() if k != "events"}
    assert sums() == resumed_sums


@pytest.mark.django_db
def test_a_site_created_and_aliased_by_hand_is_adopted(original):
    from audit.services import Actor
    from tenants.services import inventory_save
    from tenants.site_identity import site_alias_add

    actor = Actor.system("test")
    site = inventory_save(actor=actor, obj=Site(code="FARM-NORTH", name="North"))
    site_alias_add(actor=actor, site=site, value="1", kind=SiteAlias.Kind.LEGACY_ID)
    report = run(original, only=frozenset({"sites", "owners", "miners"}))
    assert (report.inventory.tables["sites"].created, report.inventory.tables["sites"].existing) == (2, 1)
    assert Miner.objects.filter(site=site).count() == len([i for i in range(1, fx.GOOD_MINERS + 1) if i % 3 == 0])
    assert not Site.objects.filter(code="north-hall").exists()


@pytest.mark.django_db
def test_a_miner_a_collector_registered_first_is_adopted_and_moved_to_its_customer(original):
    from audit.services import Actor
    from tenants.services import miners_register

    run(original, only=frozenset({"sites"}))
    operator = Tenant.objects.create(slug="operator", name="Operator", is_operator=True)
    site = Site.objects.get(code="riverside")
    (early,) = miners_register(actor=Actor.system("test"), site=site, tenant=operator, rows=[{"miner_id": "SN0001"}])
    report = run(original, only=frozenset({"owners", "miners"}))
    assert (report.inventory.tables["miners"].created, report.inventory.tables["miners"].existing) == (49, 1)
    early.refresh_from_db()
    assert early.tenant.name == "Blue River"
    history = list(early.ownerships.order_by("valid_from").values_list("tenant__slug", "valid_to"))
    assert [slug for slug, _ in history] == ["operator", early.tenant.slug] and history[0][1] is not None
    moved = AuditEvent.objects.filter(action="tenants.miner.owner_changed", entity_id=str(early.pk))
    assert moved.count() == 2  # on the operator's chain and the customer's


@pytest.mark.django_db
def test_the_command_reports_progress_and_what_it_skipped(original):
    out, err = StringIO(), StringIO()
    call_command("import_original", dsn=original.dsn, operator_customers="7", stdout=out, stderr=err)
    total = fx.HISTORY_ROWS + 10
    for done in (5000, 10000, total):
        assert f"telemetry miner_telemetry_history: {done} of {total}" in err.getvalue()
    text = out.getvalue()
    assert f"miners: 53 read, {fx.GOOD_MINERS} created, 0 already here, 3 skipped" in text
    assert "skipped miners #52: duplicate serial 'SN0001' at site riverside" in text
    assert "user_miners: 3 portfolio entries not imported (no device, no site)" in text
    with pytest.raises(CommandError):
        call_command("import_original", "--dsn", original.dsn, "--only", "sites,everything", stdout=StringIO())


@pytest.mark.django_db
def test_an_imported_customer_signs_in_by_resetting_the_password(original, client):
    from django.core import mail
    from django.urls import reverse

    run(original, only=frozenset({"sites", "owners"}))
    response = client.post(reverse("account_reset_password"), {"email": "Customer10@example.com"})
    assert response.status_code == 302, response.content
    (message,) = mail.outbox
    assert message.to == ["customer10@example.com"]


@pytest.mark.django_db
def test_since_cannot_reach_before_the_1m_retention(original):
    with pytest.raises(CommandError, match="--since cannot be before"):
        call_command("import_original", "--dsn", original.dsn, "--since", "2020-01-01", stdout=StringIO())


@pytest.mark.django_db
def test_one_run_per_source_at_a_time(original):
    import psycopg2

    from hashinsight.ops.switchover.run import ImportRunning

    other = psycopg2.connect(**fx._admin_dsn(connection.settings_dict, connection.settings_dict["NAME"]))
    try:
        with other.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(hashtext('switchover.import'), hashtext(%s))", [original.name])
        with pytest.raises(ImportRunning):
            run(original, only=frozenset({"sites"}))
        assert not Site.objects.exists()
        with other.cursor() as cur:  # the other run ends (a closed session's lock goes a moment later)
            cur.execute("SELECT pg_advisory_unlock(hashtext('switchover.import'), hashtext(%s))", [original.name])
    finally:
        other.close()
    run(original, only=frozenset({"sites"}))
    assert Site.objects.count() == 3
