"""A shared site with an hour of history for two customers, for the evidence pack tests: uploads,
1-minute rows, downtime, commands (through the operator service, so the tenant chains hold real
events), alerts, work orders, maintenance windows and a site event — B's with marker text that
must never show in A's pack."""

import datetime as dt
import io
import zipfile
from dataclasses import dataclass

import time_machine

from audit.services import Actor
from control.tests.factories import operator_command
from hosting.models import Alert, MaintenanceWindow, WorkOrder, WorkOrderComment
from hosting.services.downtime import downtime_pass
from hosting.tests.test_downtime import T0, m, samples, uploads
from tenants.models import MinerOwnership
from tenants.services import collector_token_create

B_HASHRATE_GHS = 77777.7  # B's miners hash at a figure nothing of A's has
B_MARKERS = ("SECRET-B-REASON", "B-ALERT-TITLE", "B-WORKORDER", "B-MAINT-REASON", "B-COMMENT", "Bravo Mining")


@dataclass
class PackWorld:
    world: object
    a_commands: list
    token_prefix: str

    def markers_b(self) -> tuple[str, ...]:
        w = self.world
        ids = tuple(mb.miner_id for mb in w.miners_b_x)
        return (*B_MARKERS, *ids, w.tenant_b.slug, "77.77", "77777", self.token_prefix)


def pack_world(world, noc_x) -> PackWorld:
    MinerOwnership.objects.update(valid_from=T0 - dt.timedelta(days=1))
    world.tenant_b.name = "Bravo Mining Ltd"
    world.tenant_b.save()
    uploads(world, -10, 40)
    uploads(world, 52, 60)  # the collector dark in between: 39:30 + 5 min stale → 52:30
    a0, a1, a2 = world.miners_a_x
    b0, b1 = world.miners_b_x
    for miner in (a1, a2):
        samples(miner, 0, 60)
    samples(a0, 0, 10)
    samples(a0, 10, 20, online=False)
    samples(a0, 20, 60)
    for miner in (b0, b1):
        samples(miner, 0, 60, hashrate=B_HASHRATE_GHS)
    b0_rows = [(b0, 30, 40)]
    for miner, lo, hi in b0_rows:
        samples(miner, lo, hi, online=False, hashrate=B_HASHRATE_GHS)
    ops = noc_x
    with time_machine.travel(m(5), tick=False):
        a_commands = [operator_command(ops, miner, reason=f"A fan tuning {i}") for i, miner in enumerate((a0, a1, a2))]
        operator_command(ops, b0, reason="SECRET-B-REASON")
    with time_machine.travel(m(15), tick=False):
        token, _ = collector_token_create(actor=Actor.system("test"), collector=world.collector_x, label="late")
    Alert.objects.create(
        tenant=world.tenant_b,
        site=world.site_x,
        miner=b0,
        kind="miner_offline",
        title="B-ALERT-TITLE",
        dedupe_key="b0",
        fired_at=m(31),
    )
    Alert.objects.create(
        site=world.site_x,
        kind="collector_dark",
        title="2 of Bravo Mining's miners",
        dedupe_key="x",
        fired_at=m(45),
        resolved_at=m(50),
    )
    Alert.objects.create(
        tenant=world.tenant_a,
        site=world.site_x,
        miner=a0,
        kind="miner_offline",
        title="A0 offline",
        dedupe_key="a0",
        fired_at=m(11),
        resolved_at=m(20),
    )
    wo_b = WorkOrder.objects.create(
        tenant=world.tenant_b, site=world.site_x, miner=b0, title="B-WORKORDER", created_at=m(32), updated_at=m(32)
    )
    WorkOrderComment.objects.create(work_order=wo_b, body="B-COMMENT", public=True, created_at=m(33))
    wo_a = WorkOrder.objects.create(
        tenant=world.tenant_a, site=world.site_x, miner=a0, title="Replace A0 PSU", created_at=m(12), updated_at=m(12)
    )
    WorkOrderComment.objects.create(work_order=wo_a, body="PSU ordered", public=True, created_at=m(13))
    WorkOrderComment.objects.create(work_order=wo_a, body="internal note", public=False, created_at=m(14))
    owner = ops
    MaintenanceWindow.objects.create(
        site=world.site_x, miner=b0, owner=owner, reason="B-MAINT-REASON", starts_at=m(50), ends_at=m(55)
    )
    MaintenanceWindow.objects.create(
        site=world.site_x, owner=owner, reason="Site cooling check", starts_at=m(56), ends_at=m(58)
    )
    with time_machine.travel(m(65), tick=False):
        downtime_pass(site=world.site_x, start=m(0), end=m(60))
    return PackWorld(world=world, a_commands=a_commands, token_prefix=token.prefix)


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}
