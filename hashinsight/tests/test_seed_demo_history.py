"""seed_demo_history on the demo seed: every downtime cause shows up as intervals the pass found
by itself, the dark collector period is unmeasured (not down), a moved miner's past stays with
its old owner, and a second run adds nothing."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction

from control.models import Command, CommandType, Curtailment
from hosting.models import Alert, DowntimeInterval, MaintenanceWindow, WorkOrder, WorkOrderStatus
from hosting.selectors.downtime import downtime_summary
from telemetry.models import IngestBatch, Telemetry1m, Telemetry15m, TelemetryDaily
from tenants.models import Miner, MinerOwnership, Site, Tenant
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=False)
MIN = dt.timedelta(minutes=1)


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """One seed for the module (the history takes seconds), inside a transaction rolled back at the
    end; each test runs in a savepoint of it."""
    with django_db_blocker.unblock():
        block = transaction.atomic()
        block.__enter__()
        try:
            call_command("seed_demo", miners=30, password="pw-demo-123", stdout=StringIO())
            out = StringIO()
            call_command("seed_demo_history", days=7, stdout=out)
            yield out.getvalue()
        finally:
            transaction.set_rollback(True)
            block.__exit__(None, None, None)


def test_every_cause_has_intervals(seeded):
    causes = set(DowntimeInterval.objects.values_list("cause", flat=True))
    assert causes == {"offline", "zero_hashrate", "curtailment", "maintenance", "command", "unmeasured"}


def test_command_and_maintenance_intervals_name_what_caused_them(seeded):
    commanded = DowntimeInterval.objects.filter(cause__in=["command", "curtailment"])
    assert commanded.exists() and not commanded.filter(command__isnull=True).exists()
    kinds = set(commanded.values_list("command__command_type", flat=True))
    assert kinds == {CommandType.REBOOT, CommandType.DISABLE_HASHING}
    curtailed = DowntimeInterval.objects.filter(cause="curtailment")
    assert set(curtailed.values_list("command__created_by_system", flat=True)) == {"curtailment"}
    # the DR event is a curtailment record whose disable batch caused those intervals
    order = Curtailment.objects.get()
    assert order.state == "ended" and order.approved_by_id != order.created_by_id
    assert set(curtailed.values_list("command__batch_id", flat=True)) == {order.disable_batch_id}
    enables = Command.objects.filter(batch_id=order.enable_batch_id, command_type=CommandType.ENABLE_HASHING)
    assert enables.count() == len(order.chosen) > 0
    # every linked command has its attempts; the second reboot needed two
    linked = Command.objects.filter(pk__in=commanded.values("command_id"))
    assert all(c.attempts.count() == c.attempt >= 1 for c in linked)
    assert linked.filter(command_type=CommandType.REBOOT, attempt=2).exists()
    planned = DowntimeInterval.objects.filter(cause="maintenance")
    assert set(planned.values_list("maintenance_id", flat=True)) == set(
        MaintenanceWindow.objects.values_list("pk", flat=True)
    )
    # the zone window: 3 hours for every miner of the zone
    one_off = MaintenanceWindow.objects.get(zone__isnull=False)
    zone_miners = Miner.objects.filter(zone=one_off.zone).count()
    rows = planned.filter(maintenance=one_off)
    assert rows.count() == zone_miners
    assert {(r.started_at, r.ended_at) for r in rows} == {(one_off.starts_at, one_off.ends_at)}


def test_the_dark_collector_period_is_unmeasured_not_down(seeded):
    brv = Site.objects.get(code="SITE-BRV")
    alert = Alert.objects.get(kind="collector_dark")
    dark_start, dark_stop = alert.fired_at - 5 * MIN, alert.resolved_at - 2 * MIN
    unmeasured = DowntimeInterval.objects.filter(cause="unmeasured")
    assert set(unmeasured.values_list("site_id", flat=True)) == {brv.pk}
    # dark from the miner's last sample before the cut: at the cut, or a minute before it when its
    # last upload came a stale window before that sample (which, depends on the clock the seed ran at)
    assert {i.started_at for i in unmeasured} <= {dark_start - MIN, dark_start}
    assert {i.ended_at for i in unmeasured} == {dark_stop}
    assert unmeasured.count() == Miner.objects.filter(site=brv).count()
    assert not IngestBatch.objects.filter(
        site=brv, received_at__gt=dark_start - 5 * MIN, received_at__lt=dark_stop
    ).exists()
    down = DowntimeInterval.objects.filter(site=brv, started_at__lt=dark_stop, ended_at__gt=dark_start).exclude(
        cause="unmeasured"
    )
    assert all(i.ended_at <= dark_start - MIN or i.started_at >= dark_stop for i in down)
    admin = UserFactory(is_superuser=True)
    summary = downtime_summary(admin, start=dark_start, end=dark_stop, site=brv)
    minutes = (dark_stop - dark_start) / MIN
    assert summary["unmeasured_minutes"] == minutes * Miner.objects.filter(site=brv).count()
    assert summary["measured_minutes"] == 0


def test_a_moved_miner_keeps_its_past_with_the_old_owner(seeded):
    acme, blue = Tenant.objects.get(slug="acme"), Tenant.objects.get(slug="blue-river")
    moved = MinerOwnership.objects.filter(tenant=acme, valid_to__isnull=False)
    assert moved.count() == 3
    change = moved.first().valid_to
    miner = Miner.objects.filter(pk__in=moved.values("miner_id")).order_by("miner_id").first()
    assert miner.tenant_id == blue.pk
    rows = DowntimeInterval.objects.filter(miner=miner, cause="offline")
    assert rows.filter(tenant=acme, ended_at__lte=change).exists()
    assert rows.filter(tenant=blue, started_at__gte=change).exists()
    # the outage across the change is two intervals, cut at the change
    assert rows.filter(tenant=acme, ended_at=change).exists() and rows.filter(tenant=blue, started_at=change).exists()
    assert not rows.filter(tenant=blue, started_at__lt=change).exists()


def test_history_fills_the_tiers_and_the_hosting_screens(seeded):
    assert "Downtime intervals" in seeded
    assert Telemetry1m.objects.count() > 100_000 and Telemetry15m.objects.exists() and TelemetryDaily.objects.exists()
    assert set(Alert.objects.values_list("state", flat=True)) == {"firing", "acknowledged", "resolved"}
    statuses = set(WorkOrder.objects.values_list("status", flat=True))
    assert statuses == {s.value for s in WorkOrderStatus}
    assert WorkOrder.objects.filter(comments__public=True).exists()
    assert WorkOrder.objects.filter(comments__public=False).exists()
    # an open interval: a miner still down now
    assert DowntimeInterval.objects.filter(ended_at__isnull=True, cause="offline").exists()


def test_a_second_run_adds_nothing(seeded):
    before = [m.objects.count() for m in (DowntimeInterval, Telemetry1m, IngestBatch, Command, Alert, WorkOrder)]
    out, err = StringIO(), StringIO()
    call_command("seed_demo_history", if_empty=True, stdout=out, stderr=err)
    call_command("seed_demo_history", stdout=out, stderr=err)
    assert "already loaded" in out.getvalue() and "already loaded" in err.getvalue()
    after = [m.objects.count() for m in (DowntimeInterval, Telemetry1m, IngestBatch, Command, Alert, WorkOrder)]
    assert after == before


def test_each_demo_site_gets_the_overheat_rule_and_it_catches_a_hot_miner(seeded):
    import datetime as dt

    from django.utils import timezone

    from rules.models import HitKind, Rule
    from rules.services.evaluation import rules_evaluate
    from telemetry.models import TelemetryLive, TelemetryRaw
    from telemetry.partitions import ensure_partition

    rules = list(Rule.objects.select_related("site").order_by("site__code"))
    assert [r.site.code for r in rules] == ["SITE-ACC", "SITE-BRV"]
    assert {(r.name, r.metric, r.command_type, r.priority_class) for r in rules} == {
        ("Overheat", "temp_max", "set_fan", 40)
    }
    # three hot raw samples in a row on one demo miner: the next pass proposes set_fan 100 for it
    live = TelemetryLive.objects.filter(site=rules[0].site).order_by("miner_id").first()
    now = timezone.now().replace(microsecond=0)
    for day in {(now - dt.timedelta(minutes=3)).date(), now.date()}:
        ensure_partition("telemetry_raw", day)
    batch = IngestBatch.objects.filter(site_id=live.site_id).values_list("pk", flat=True).first()
    for i in (3, 2, 1):
        TelemetryRaw.objects.create(
            batch_id=batch,
            site_id=live.site_id,
            miner_id=live.miner_id,
            tenant_id=live.tenant_id,
            ts=now - dt.timedelta(minutes=i),
            received_at=now,
            online=True,
            temperature_max=95.0,
        )
    TelemetryLive.objects.filter(pk=live.pk).update(ts=now - dt.timedelta(minutes=1), temperature_max=95.0)
    report = rules_evaluate(now=now, site=rules[0].site)
    hit = next(d for d in report.decisions if d.kind == HitKind.TRIGGER)
    assert hit.miner_pk == live.miner_id and hit.command_type == "set_fan" and hit.command_id is not None


def test_the_demo_customers_may_propose_reboots_and_acme_has_asked_for_one(seeded):
    from control.models import CommandState, ConsentPolicy
    from control.services.owner_proposals import customer_types

    policies = ConsentPolicy.objects.select_related("tenant").order_by("tenant__slug")
    assert [(p.tenant.slug, p.consent_types, p.customer_types) for p in policies] == [
        ("acme", [], ["reboot"]),
        ("blue-river", [], ["reboot"]),
    ]
    assert customer_types(Tenant.objects.get(slug="operator").pk) == []  # the operator's own miners: none
    assert "customers may propose reboot" in seeded
    asked = Command.objects.get(created_by__username="customer-acme@hashinsight.demo")
    assert (asked.command_type, asked.state, asked.tenant.slug, asked.site.code) == (
        CommandType.REBOOT,
        CommandState.PROPOSED,
        "acme",
        "SITE-ACC",
    )
    assert asked.owner_approved_by_id == asked.created_by_id and asked.approved_by_id is None  # waits for the NOC
    assert not DowntimeInterval.objects.filter(miner=asked.miner, ended_at__isnull=True).exists()
    assert f"command #{asked.pk}, proposed" in seeded


def test_a_demo_loaded_before_the_proposals_gets_them_once(seeded):
    from control.models import ConsentPolicy

    ConsentPolicy.objects.all().delete()
    out = StringIO()
    call_command("seed_demo_history", if_empty=True, stdout=out)
    assert "already loaded" in out.getvalue() and "customers may propose reboot" in out.getvalue()
    assert ConsentPolicy.objects.count() == 2
    asked = Command.objects.filter(created_by__username="customer-acme@hashinsight.demo", state="proposed")
    assert asked.count() == 2 and asked.values("miner_id").distinct().count() == 2  # not the busy miner again
    again = StringIO()
    call_command("seed_demo_history", if_empty=True, stdout=again)
    assert again.getvalue().strip().splitlines() == ["demo history already loaded"]
    assert ConsentPolicy.objects.count() == 2
    assert Command.objects.filter(created_by__username="customer-acme@hashinsight.demo").count() == 2
