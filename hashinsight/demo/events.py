"""The rows of the demo month that are not telemetry: ownership history, maintenance windows,
operator commands and a curtailment (its record and its commands) with their attempts, alerts and
work orders with comments.

They are written straight through the models, with their historical timestamps: the services
(control's queue, hosting's alert and work-order services) act at "now" and would refuse a
command leased three weeks ago. Each addition also records, in the plan, the samples it implies
(a rebooting miner is offline, a curtailed one hashes nothing), so the downtime pass attributes
them from the data alone. One audit event per tenant chain says what was loaded.
"""

import datetime as dt
import uuid
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Q

from audit.services import Actor, audit_record
from control.models import (
    Command,
    CommandAttempt,
    CommandState,
    CommandType,
    Curtailment,
    CurtailmentState,
    Outcome,
    PriorityClass,
)
from hosting.models import (
    Alert,
    AlertSeverity,
    AlertState,
    MaintenanceWindow,
    WorkOrder,
    WorkOrderComment,
    WorkOrderEvent,
    WorkOrderSource,
    WorkOrderStatus,
)
from hosting.selectors.maintenance import maintenance_occurrences
from tenants.models import Collector, Miner, MinerOwnership, Site, Tenant
from tenants.services import miner_assign_owner

from .plan import Dark, Plan

ACTOR = Actor.system("seed_demo_history")
DOMAIN = "hashinsight.demo"
H = dt.timedelta(hours=1)
MIN = dt.timedelta(minutes=1)


@dataclass
class World:
    acc: Site
    brv: Site
    acme: Tenant
    blue: Tenant
    miners: dict[str, list[Miner]]  # site code → miners, by miner_id
    users: dict[str, object]  # seed_demo's name (noc, technician, …) → user

    def collector(self, site: Site) -> Collector:
        return Collector.objects.filter(site=site).order_by("pk").first()

    def owned(self, site: Site, tenant: Tenant) -> list[Miner]:
        return [m for m in self.miners[site.code] if m.tenant_id == tenant.pk]


def world_load(acc: Site, brv: Site) -> World:
    users = {u.username.split("@")[0]: u for u in get_user_model().objects.filter(username__endswith=f"@{DOMAIN}")}
    fallback = users.get("admin") or get_user_model().objects.filter(is_superuser=True).first()
    for name in ("noc", "opsmanager", "technician", "customersuccess"):
        users.setdefault(name, fallback)
    miners = {
        s.code: list(Miner.objects.filter(site=s).select_related("zone").order_by("miner_id")) for s in (acc, brv)
    }
    return World(acc, brv, Tenant.objects.get(slug="acme"), Tenant.objects.get(slug="blue-river"), miners, users=users)


def ownership_backdate(world: World, plan: Plan) -> list[Miner]:
    """seed_demo registers miners "now": their first ownership starts with the history instead.
    Then three of Acme's miners at Bravo move to Blue River mid-month (through tenants' service,
    audited) — their first half stays Acme's."""
    pks = [m.pk for ms in world.miners.values() for m in ms]
    MinerOwnership.objects.filter(miner_id__in=pks, valid_from__gt=plan.start, valid_to__isnull=True).exclude(
        miner__ownerships__valid_to__isnull=False
    ).update(valid_from=plan.start)
    moved = world.owned(world.brv, world.acme)[:3]
    miner_assign_owner(actor=ACTOR, miners=moved, tenant=world.blue, at=plan.at(0.5, 12))
    first = moved[0]
    plan.add(first.pk, plan.at(0.4, 4), plan.at(0.4, 7), "offline")  # Acme's
    plan.add(first.pk, plan.at(0.5, 11), plan.at(0.5, 13), "offline")  # split at the change
    plan.add(first.pk, plan.at(0.8, 10), plan.at(0.8, 12), "offline")  # Blue River's
    for m in moved:
        m.tenant_id = world.blue.pk
    return moved


def maintenance_create(world: World, plan: Plan) -> list[MaintenanceWindow]:
    zone = world.miners[world.acc.code][-1].zone  # the last zone of Accra
    one_off = MaintenanceWindow.objects.create(
        site=world.acc,
        zone=zone,
        owner=world.users["opsmanager"],
        reason=f"PDU firmware upgrade, zone {zone.code}",
        starts_at=plan.at(0.27, 2),
        ends_at=plan.at(0.27, 5),
    )
    for m in world.miners[world.acc.code]:
        if m.zone_id == zone.pk:
            plan.add(m.pk, one_off.starts_at, one_off.ends_at, "offline")
    tank = [m for m in world.miners[world.acc.code] if m.zone_id != zone.pk][7]  # outside the zone window
    weekly = MaintenanceWindow.objects.create(
        site=world.acc,
        miner=tank,
        owner=world.users["opsmanager"],
        reason="Weekly immersion-tank filter change",
        starts_at=plan.start,
        weekdays=[1],  # Tuesdays
        start_time=dt.time(3, 0),
        duration_minutes=60,
        timezone="Europe/Berlin",
    )
    for occurrence in maintenance_occurrences(site=world.acc, start=plan.start, end=plan.end):
        if occurrence.window.pk == weekly.pk:
            plan.add(tank.pk, occurrence.start, occurrence.end, "offline")
    return [one_off, weekly]


def _command(world: World, miner: Miner, kind: str, at: dt.datetime, done: dt.datetime, **extra) -> Command:
    """A command leased at `at` and finished at `done`; `attempts` > 1: the earlier leases lapsed."""
    attempts = extra.pop("attempts", 1)
    collector = world.collector(miner.site)
    created = at - 2 * MIN
    owner = (
        MinerOwnership.objects.filter(miner=miner, valid_from__lte=at)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at))
        .values_list("tenant_id", flat=True)
        .first()
    )
    command = Command.objects.create(
        tenant_id=owner or miner.tenant_id,  # the owner when it ran
        site=miner.site,
        zone=miner.zone,
        miner=miner,
        command_type=kind,
        state=CommandState.SUCCEEDED,
        created_at=created,
        updated_at=done,
        ttl_sec=1800,
        expires_at=created + dt.timedelta(seconds=1800),
        finished_at=done,
        attempt=attempts,
        lease_epoch=1,
        lease_collector=collector,
        ack_payload={"status": "ok", "result_code": 0},
        acked_at=done - MIN,
        outcome=Outcome.VERIFIED,
        **extra,
    )
    for n in range(1, attempts + 1):
        leased = at + (n - 1) * 3 * MIN
        last = n == attempts
        CommandAttempt.objects.create(
            command=command,
            attempt=n,
            wire_id=command.wire_id(n),
            lease_epoch=1,
            collector=collector,
            device_id="edge-demo",
            leased_at=leased,
            lease_until=leased + 2 * MIN,
            lease_ended_at=done - MIN if last else leased + 2 * MIN,
            lease_end_reason="acked" if last else "lapsed",
            ack_status="ok" if last else "",
            result_code=0 if last else None,
            acked_at=done - MIN if last else None,
        )
    return command


def commands_create(world: World, plan: Plan) -> list[Command]:
    noc, ops = world.users["noc"], world.users["opsmanager"]
    acc, brv = world.miners[world.acc.code], world.miners[world.brv.code]
    out = []
    for n, (miner, day) in enumerate([(acc[3], 0.17), (acc[21], 0.4), (brv[5], 0.63)]):
        at = plan.at(day, 10)
        out.append(
            _command(
                world, miner, CommandType.REBOOT, at, at + 6 * MIN, created_by=noc,
                reason="Hashrate dropped after pool switch: reboot", attempts=2 if n == 1 else 1,
            )
        )  # fmt: skip
        plan.add(miner.pk, at, at + 10 * MIN, "offline")
    # An operator sheds load in a hot aisle: disabled for 2.5 hours, then enabled again.
    hot, at = acc[12], plan.at(0.7, 9)
    out.append(
        _command(
            world, hot, CommandType.DISABLE_HASHING, at, at + 3 * MIN, created_by=ops,
            priority_class=PriorityClass.EFFICIENCY, reason="Hot aisle over 35 °C: shed load",
        )
    )  # fmt: skip
    back = at + 2.5 * H
    out.append(_command(world, hot, CommandType.ENABLE_HASHING, back - 3 * MIN, back, created_by=ops, reason="cooled"))
    plan.add(hot.pk, at, back, "zero")
    # A utility demand-response event curtails the first zone of Bravo for two hours.
    at, back = plan.at(0.33, 17), plan.at(0.33, 19)
    zone = brv[0].zone_id
    curtailed = [m for m in brv if m.zone_id == zone]
    order = _curtailment(world, curtailed, at, back, requester=noc, approver=ops)
    for miner in curtailed:
        reason = f"curtailment #{order.pk}: {order.reason}"
        common = {
            "reason": reason,
            "created_by_system": "curtailment",
            "priority_class": PriorityClass.COMPLIANCE,
            "approved_by": ops,
            "evidence": {"curtailment": order.pk},
        }
        disable, enable = CommandType.DISABLE_HASHING, CommandType.ENABLE_HASHING
        out.append(_command(world, miner, disable, at, at + 2 * MIN, batch_id=order.disable_batch_id, **common))
        out.append(_command(world, miner, enable, back - 2 * MIN, back, batch_id=order.enable_batch_id, **common))
        plan.add(miner.pk, at, back, "zero")
    return out


def _curtailment(world: World, miners: list[Miner], at, back, *, requester, approver) -> Curtailment:
    """The DR event's record, ended, with its historical times (control's services act at "now"
    and refuse a start in the past): every miner of the zone chosen, all of its draw shed."""
    chosen = [
        {"miner": m.pk, "miner_id": m.miner_id, "power_w": float(m.nominal_power_w or 0), "why": "online, hashing"}
        for m in miners
    ]
    kw = round(sum(r["power_w"] for r in chosen) / 1000, 3)
    return Curtailment.objects.create(
        site=world.brv,
        zone_id=miners[0].zone_id,
        start_at=at,
        end_at=back,
        reason="Utility demand-response event DR-17 (grid operator request)",
        target_kw=max(kw, 1.0),
        state=CurtailmentState.ENDED,
        created_by=requester,
        created_at=at - H,
        updated_at=back,
        approved_by=approver,
        approved_at=at - 0.5 * H,
        approval_reason="confirmed with the utility",
        chosen=chosen,
        expected_kw=kw,
        chosen_at=at,
        disable_batch_id=uuid.uuid4(),
        enable_batch_id=uuid.uuid4(),
        started_at=at,
        ended_at=back,
        end_reason="end_at reached",
        baseline_kw=kw,
        shed_kw=kw,
        measured_at=back,
    )


def _alert(world, site, kind, title, fired, *, miner=None, state=AlertState.RESOLVED, **extra) -> Alert:
    return Alert.objects.create(
        site=site,
        miner=miner,
        tenant_id=miner.tenant_id if miner else None,
        kind=kind,
        title=title,
        state=state,
        fired_at=fired,
        dedupe_key=f"{kind}:{site.pk}:{miner.pk if miner else 'site'}:{fired:%Y%m%d%H%M}",
        details={"demo": True},
        **extra,
    )


def _work_order(world, site, title, path, *, miner=None, comments=(), **extra) -> WorkOrder:
    """`path`: [(status, at, user, reason)], the first one the creation."""
    status, created, creator, _ = path[0]
    last = path[-1]
    wo = WorkOrder.objects.create(
        site=site,
        miner=miner,
        tenant_id=miner.tenant_id if miner else None,
        title=title,
        status=last[0],
        created_by=creator,
        assignee=world.users["technician"],
        created_at=created,
        updated_at=last[1],
        resolved_at=next((at for s, at, _, _ in path if s == WorkOrderStatus.RESOLVED), None),
        closed_at=last[1] if last[0] == WorkOrderStatus.CLOSED else None,
        **extra,
    )
    previous = ""
    for status, at, user, reason in path:
        label = getattr(user, "username", "system")
        WorkOrderEvent.objects.create(
            work_order=wo, from_status=previous, to_status=status, actor_label=label, reason=reason, at=at
        )
        previous = status
    for at, user, body, public in comments:
        WorkOrderComment.objects.create(work_order=wo, author=user, body=body, public=public, created_at=at)
    return wo


def incidents_create(world: World, plan: Plan) -> tuple[list[Alert], list[WorkOrder]]:
    """The dark collector, a PSU failure, a stuck pool, an overheating miner still firing, and the
    work orders that followed them."""
    S, noc, tech, cs = WorkOrderStatus, world.users["noc"], world.users["technician"], world.users["customersuccess"]
    acc, brv = world.miners[world.acc.code], world.miners[world.brv.code]
    dark = Dark(world.brv.pk, plan.at(0.45, 1), plan.at(0.45, 4.5))
    plan.dark.append(dark)
    a_dark = _alert(
        world, world.brv, "collector_dark", f"Collector of {world.brv.code} dark", dark.start + 5 * MIN,
        severity=AlertSeverity.CRITICAL, resolved_at=dark.stop + 2 * MIN,
    )  # fmt: skip
    w_dark = _work_order(
        world, world.brv, f"{world.brv.code} collector offline (uplink)",
        [(S.OPEN, dark.start + 8 * MIN, noc, "from alert"), (S.IN_PROGRESS, dark.start + 20 * MIN, tech, "on site"),
         (S.RESOLVED, dark.stop + 5 * MIN, tech, "ISP fiber repaired"), (S.CLOSED, dark.stop + 24 * H, noc, "")],
        source=WorkOrderSource.ALERT, alert=a_dark,
        comments=[(dark.start + 30 * MIN, tech, "Uplink down: the ISP reports a fiber cut.", True),
                  (dark.stop + 6 * MIN, tech, "Uplink back; the collector replayed nothing (it was off too).", False)],
    )  # fmt: skip
    psu = brv[len(brv) // 2 + 5]
    start, stop = plan.at(0.6, 8), plan.at(0.6, 26)
    plan.add(psu.pk, start, stop, "offline")
    a_psu = _alert(
        world, world.brv, "miner_offline", f"{psu.miner_id} offline", start + 5 * MIN, miner=psu,
        acknowledged_at=start + 20 * MIN, acknowledged_by=noc, resolved_at=stop,
    )  # fmt: skip
    w_psu = _work_order(
        world, world.brv, f"Replace PSU of {psu.miner_id}",
        [(S.OPEN, start + 25 * MIN, noc, "from alert"), (S.IN_PROGRESS, start + 2 * H, tech, ""),
         (S.RESOLVED, stop, tech, "PSU replaced")],
        miner=psu, source=WorkOrderSource.ALERT, alert=a_psu,
        comments=[(start + 3 * H, tech, "PSU dead; spare ordered, arrives tomorrow morning.", True)],
    )  # fmt: skip
    stuck = acc[len(acc) // 2 + 4]
    start, stop = plan.at(0.5, 6), plan.at(0.5, 14)
    plan.add(stuck.pk, start, stop, "zero")
    _alert(world, world.acc, "zero_hashrate", f"{stuck.miner_id} hashes nothing", start + 10 * MIN, miner=stuck,
           resolved_at=stop)  # fmt: skip
    _work_order(
        world, world.acc, f"{stuck.miner_id}: online, zero hashrate",
        [(S.OPEN, start + 15 * MIN, noc, ""), (S.IN_PROGRESS, start + H, tech, ""),
         (S.RESOLVED, stop, tech, "Hashboard reseated")],
        miner=stuck, comments=[(stop, tech, "Hashboard 2 was loose; reseated, hashing at nominal.", True)],
    )  # fmt: skip
    down = acc[-3]
    plan.add(down.pk, plan.end - 5 * H, plan.end + 5 * MIN, "offline")  # still down now: an open interval
    a_down = _alert(
        world, world.acc, "miner_offline", f"{down.miner_id} offline", plan.end - 4.9 * H, miner=down,
        state=AlertState.ACKNOWLEDGED, acknowledged_at=plan.end - 4.5 * H, acknowledged_by=noc,
    )  # fmt: skip
    _work_order(
        world, world.acc, f"{down.miner_id} does not power on",
        [(S.OPEN, plan.end - 4.5 * H, noc, "from alert"), (S.IN_PROGRESS, plan.end - 3 * H, tech, "")],
        miner=down, source=WorkOrderSource.ALERT, alert=a_down,
        comments=[(plan.end - 2 * H, tech, "No power on the PDU outlet; testing the cable.", True)],
    )  # fmt: skip
    hot = acc[-12]
    a_hot = _alert(
        world, world.acc, "overheat", f"{hot.miner_id} chip temperature 92 °C", plan.end - 40 * MIN, miner=hot,
        state=AlertState.FIRING,
    )  # fmt: skip
    _work_order(world, world.acc, f"Check fans of {hot.miner_id}", [(S.OPEN, plan.end - 30 * MIN, noc, "")],
                miner=hot, alert=a_hot, source=WorkOrderSource.ALERT)  # fmt: skip
    pool = world.owned(world.brv, world.blue)[-1]
    _work_order(
        world, world.brv, f"New pool worker for {pool.miner_id}",
        [(S.OPEN, plan.at(0.85, 9), cs, "customer request"), (S.WAITING_CUSTOMER, plan.at(0.85, 10), cs, "")],
        miner=pool, source=WorkOrderSource.OPERATOR,
        comments=[(plan.at(0.85, 10), cs, "Please confirm the pool URL and worker name to switch to.", True),
                  (plan.at(0.85, 10), cs, "Customer asked by phone as well.", False)],
    )  # fmt: skip
    return [a_dark, a_psu, a_down, a_hot], [w_dark, w_psu]


def history_audit(world: World, plan: Plan, counts: dict) -> None:
    for tenant in (world.acme, world.blue):
        audit_record(
            actor=ACTOR,
            action="demo.history.loaded",
            entity_type="tenants.tenant",
            entity_id=str(tenant.pk),
            payload={"from": plan.start.isoformat(), "to": plan.end.isoformat(), **counts},
            tenant_id=tenant.pk,
        )
