"""The original application's command shapes (/api/collector/commands…, /api/edge/v1/commands…):
its request keys mapped onto this project's, and its command dict (`MinerCommand.to_dict`) and
states built from a Command (docs/COMPATIBILITY.md, "/api/collector and /api/edge").

Command names go through the one alias table (control.services.params.TYPE_ALIASES: enable →
enable_hashing, disable → disable_hashing, restart → reboot) and come back as the collector's
action names (control.services.poll.EDGE_ACTION), which are the original's names.
"""

import datetime as dt

from django.conf import settings
from django.utils import timezone

from control.models import Command, CommandState
from control.services import params
from control.services.poll import EDGE_ACTION
from telemetry.legacy_shapes import legacy_site_ids, utc_iso

S = CommandState

# The original's command states, and which of this project's states each one covers.
ORIGINAL_STATES: dict[str, tuple[str, ...]] = {
    "pending": (S.PROPOSED, S.APPROVED, S.QUEUED),
    "sent": (S.DISPATCHED,),
    "executing": (S.RUNNING, S.ACKED),
    "completed": (S.SUCCEEDED, S.ROLLED_BACK),
    "failed": (S.FAILED,),
    "expired": (S.EXPIRED,),
    "cancelled": (S.CANCELED, S.SUPERSEDED, S.REJECTED),
}
ORIGINAL_STATE = {state: name for name, states in ORIGINAL_STATES.items() for state in states}
STATE_DESC = {
    "pending": "等待发送",
    "sent": "已发送",
    "executing": "执行中",
    "completed": "已完成",
    "failed": "执行失败",
    "expired": "已过期",
    "cancelled": "已取消",
}
COMMAND_DESC = {
    "enable": "启动挖矿 / Enable Mining",
    "disable": "停止挖矿 / Disable Mining",
    "restart": "重启矿机 / Restart Miner",
    "set_pool": "切换矿池 / Switch Pool",
    "set_fan": "设置风扇 / Set Fan Speed",
    "set_frequency": "调整频率 / Adjust Frequency",
}
DEFAULT_TTL_MINUTES = 30  # the original's default


def original_body(data: dict) -> dict:
    """The original's create/batch body keys → this project's (CreateIn): `parameters` → params,
    `ttl_minutes` → ttl_sec (default 30 min, as the original). `ip_address` is dropped: the
    collector targets by its own inventory, never by a cloud IP (COLLECTOR_PROTOCOL §3.2)."""
    body = {k: v for k, v in data.items() if k not in ("parameters", "ttl_minutes", "ip_address")}
    if "params" not in body and "parameters" in data:
        body["params"] = data["parameters"]
    if "ttl_sec" not in body:
        minutes = data.get("ttl_minutes", DEFAULT_TTL_MINUTES)
        try:
            body["ttl_sec"] = int(minutes) * 60
        except (TypeError, ValueError):
            body["ttl_sec"] = minutes  # refused by validation, naming ttl_sec
    if isinstance(body.get("site_id"), int) and not isinstance(body["site_id"], bool):
        body["site_id"] = str(body["site_id"])
    return body


def original_name(command_type: str) -> str:
    return EDGE_ACTION.get(command_type, command_type)


def command_dict(c: Command, *, site_ids: dict[int, int], sent_at=None) -> dict:
    """The original's MinerCommand.to_dict for one Command."""
    status = ORIGINAL_STATE.get(c.state, c.state)
    name = original_name(c.command_type)
    ack = c.ack_payload if isinstance(c.ack_payload, dict) else {}
    return {
        "id": c.pk,
        "miner_id": c.miner.miner_id,
        "site_id": site_ids.get(c.site_id, c.site_id),
        "ip_address": None,
        "command_type": name,
        "command_desc": COMMAND_DESC.get(name, name),
        "parameters": params.redact(c.params),
        "status": status,
        "status_desc": STATE_DESC.get(status, status),
        "priority": c.priority,
        "created_at": utc_iso(c.created_at),
        "expires_at": utc_iso(c.expires_at),
        "sent_at": utc_iso(sent_at),
        "executed_at": utc_iso(c.acked_at),
        "result_code": ack.get("result_code"),
        "result_message": ack.get("result_message") or c.error_message or None,
        "operator_id": c.created_by_id,
        "retry_count": c.attempt - 1,
        "max_retries": c.max_retries,
    }


def command_dicts(commands) -> list[dict]:
    """command_dict for a list of Commands (with `sent_at` annotated when the queryset has it)."""
    commands = list(commands)
    site_ids = legacy_site_ids({c.site_id for c in commands})
    return [command_dict(c, site_ids=site_ids, sent_at=getattr(c, "sent_at", None)) for c in commands]


def original_stats(by_state: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for state, n in by_state.items():
        name = ORIGINAL_STATE.get(state, state)
        out[name] = out.get(name, 0) + n
    return out


# --- collector answers ----------------------------------------------------------------------------


def poll_counts(commands: list[dict]) -> dict:
    """The original v1 poll's counters, beside `commands` (a dispatch here is a lease)."""
    return {
        "server_time": timezone.now().astimezone(dt.UTC).replace(tzinfo=None).isoformat() + "Z",
        "dispatched_count": len(commands),
        "miner_command_count": len(commands),
        "remote_command_count": 0,
        "rate_limited_count": 0,
        "lease_duration_sec": settings.COMMAND_LEASE_SEC,
    }


def _state_of(ack) -> str | None:
    if ack.command_id is None:
        return None
    state = Command.objects.filter(pk=ack.command_id).values_list("state", flat=True).first()
    return ORIGINAL_STATE.get(state, state) if state else None


def v1_ack(ack) -> dict:
    """The original v1 ACK's keys, beside `success`: this project's verdict in the original's names."""
    return {
        "acknowledged": True,
        "command_source": "miner",
        "command_id": ack.wire_id,
        "command_status": _state_of(ack),
        "replayed": ack.disposition != "first",
    }


def legacy_result(ack) -> dict:
    """The original legacy result answer's keys, beside `success`."""
    return {"message": "Result reported successfully", "command_status": _state_of(ack)}
