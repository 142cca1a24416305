"""The simulated farm's command channel, as the edge collector runs it (COLLECTOR_PROTOCOL §3):
poll, check each command (site, zone, expiry, duplicate, target), carry it out on the simulated
miner, and ACK it with the collector's body (status, result_code, before/after snapshots).

The effects are what the cloud's verification looks for (SPEC §6.1): `set_fan` changes the fan
speeds (at ≥ 90 % a heating miner cools down; back under 90 % it heats again from where it is),
`disable`/`enable` take the hashrate to zero and back, `restart` resets the uptime,
`set_frequency` changes the reported clock, `set_pool` the pool. Used by `simulate_fleet --commands`
so that `make run` shows a hot miner caught by a rule, its command approved, executed and verified.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import requests

from verification.fleet import Fleet, SimMiner, format_ts, utcnow

V1_POLL = "/api/edge/v1/commands/poll"
LEGACY_POLL = "/api/collector/commands/pending"
ACTIONS = ("enable", "disable", "restart", "reboot", "set_pool", "set_fan", "set_frequency")


@dataclass
class Round:
    polled: int = 0
    acked: dict[str, int] = field(default_factory=dict)  # status -> count
    error: str = ""


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)


class EdgeCommands:
    """One collector's command side: `poll_round(elapsed)` polls once, executes and ACKs."""

    def __init__(self, fleet: Fleet, uplink, *, api_mode: str = "auto", timeout: float = 10.0):
        self.fleet, self.uplink, self.api_mode, self.timeout = fleet, uplink, api_mode, timeout
        self.by_id = {m.spec.miner_id: m for m in fleet.miners}
        self.by_key = {m.miner_key: m for m in fleet.miners}
        self.executed: set[str] = set()

    def headers(self) -> dict:
        u = self.uplink
        out = {
            "X-Collector-Key": u.token,
            "Authorization": f"Bearer {u.token}",
            "X-Site-ID": u.site_code,
            "Content-Type": "application/json",
            "X-Device-ID": u.device_id,
            "X-Edge-ID": u.device_id,
        }
        if u.zone_id:
            out["X-Zone-ID"] = u.zone_id
        return out

    def _get(self, path: str) -> requests.Response:
        return self.uplink.session.get(self.uplink.base_url + path, headers=self.headers(), timeout=self.timeout)

    def poll_round(self, now: dt.datetime | None = None) -> Round:
        now = now or utcnow()
        out = Round()
        try:
            family, response = "v1", None
            if self.api_mode in ("v1", "auto"):
                response = self._get(V1_POLL)
            if response is None or (self.api_mode == "auto" and response.status_code in (404, 405)):
                family, response = "legacy", self._get(LEGACY_POLL)
        except requests.RequestException as exc:
            out.error = f"{type(exc).__name__}"
            return out
        commands = self._commands(family, response)
        if response.status_code not in (200, 204):
            out.error = f"poll {response.status_code}"
        out.polled = len(commands)
        for command in commands:
            body = self.execute(command, now)
            path = (
                f"/api/edge/v1/commands/{command.get('command_id')}/ack"
                if family == "v1"
                else f"/api/collector/commands/{command.get('command_id')}/result"
            )
            try:
                self.uplink.session.post(
                    self.uplink.base_url + path, data=json.dumps(body), headers=self.headers(), timeout=self.timeout
                )
            except requests.RequestException:
                pass  # the packaged app spools it and never re-sends (§3.4): the cloud's lease expiry closes it
            out.acked[body["status"]] = out.acked.get(body["status"], 0) + 1
        return out

    @staticmethod
    def _commands(family: str, response: requests.Response) -> list[dict]:
        if response.status_code != 200:
            return []
        try:
            answer = response.json()
        except ValueError:
            return []
        if isinstance(answer, list):
            return [c for c in answer if isinstance(c, dict)]
        if not isinstance(answer, dict) or (family == "legacy" and not answer.get("success")):
            return []
        listed = answer.get("commands", answer.get("data"))
        return [c for c in listed if isinstance(c, dict)] if isinstance(listed, list) else []

    # --- one command (§3.3, checks in the collector's order) --------------------------------------

    def execute(self, command: dict, now: dt.datetime) -> dict:
        cid = str(command.get("command_id", command.get("id")))
        action = command.get("command") or command.get("action") or ""
        miner = self.by_key.get(command.get("miner_key") or "") or self.by_id.get(command.get("miner_id") or "")
        site = command.get("site_id")
        if site is not None and site != self.uplink.site_code:
            why = f"SITE_MISMATCH: cmd.site_id={site} expected={self.uplink.site_code}"
            return self._ack(command, miner, "rejected", why, "site_mismatch")
        expires = command.get("expires_at")
        if expires is None and command.get("issued_at") and command.get("ttl_sec"):
            expires = format_ts(_parse_time(command["issued_at"]) + dt.timedelta(seconds=int(command["ttl_sec"])))
        if expires and _parse_time(expires) < now:
            return self._ack(command, miner, "rejected", "COMMAND_EXPIRED", "expired")
        if cid in self.executed:
            return self._ack(command, miner, "skipped", "DUPLICATE_IGNORED", "duplicate")
        self.executed.add(cid)
        if miner is None:
            return self._ack(
                command, None, "failed", f"MINER_NOT_REGISTERED_ON_EDGE: {command.get('miner_id')}", "not_found"
            )
        if action not in ACTIONS:
            return self._ack(command, miner, "failed", f"Unknown command: {action}", "execution_failed")
        before = self._snapshot(miner, now)
        message = self._apply(miner, action, command.get("params") or {}, now)
        return self._ack(command, miner, "completed", message, None, before=before, after=self._snapshot(miner, now))

    def _elapsed(self, now: dt.datetime) -> float:
        return (now - self.fleet.start).total_seconds() if self.fleet.start else 0.0

    def _apply(self, miner: SimMiner, action: str, params: dict, now: dt.datetime) -> str:
        elapsed = self._elapsed(now)
        if action == "set_fan":
            speed = int(params.get("speed", 100))
            hot = miner.hottest(elapsed)
            if speed >= 90:
                miner.cooled = (elapsed, hot)
            elif miner.cooled is not None:  # back to a normal duty: a clogged filter heats it again from here
                miner.cooled = None
                if miner.heating:
                    miner.heating = (elapsed - (hot - miner.chip_temp) / miner.heating[1] * 60, miner.heating[1])
            miner.fan_pct = speed
            return f"Fan speed set to {speed}"
        if action == "disable":
            miner.hashing = False
            return "Mining disabled successfully"
        if action == "enable":
            miner.hashing = True
            return "Mining enabled successfully"
        if action in ("restart", "reboot"):
            miner.restarted_at = elapsed
            return "CGMiner restarted successfully"
        if action == "set_frequency":
            miner.freq = float(params.get("frequency", 0))
            return f"Frequency set to {params.get('frequency', 0)}"
        if params.get("pool_url"):
            miner.pool = str(params["pool_url"])
            return f"Pool added: {params['pool_url']}"
        return f"Switched to pool {params.get('pool_id', 0)}"

    def _snapshot(self, miner: SimMiner, now: dt.datetime) -> dict:
        elapsed = self._elapsed(now)
        ghs = miner.ghs if miner.hashing else 0.0
        hot = miner.hottest(elapsed)
        rpm = miner.fan_rpm * (miner.fan_pct / 70 if miner.fan_pct is not None else 1)
        return {
            "online": True,
            "hashrate_ghs": round(ghs, 2),
            "hashrate_5s_ghs": round(ghs, 2),
            "temp_avg": round(hot - 7, 1),
            "temp_max": float(round(hot)),
            "fan_speeds": [int(rpm)] * miner.profile.fans,
            "pool_url": miner.pool,
            "worker_name": f"farm1.{miner.spec.miner_id.lower()}",
        }

    def _ack(self, command, miner, status, message, error_class, *, before=None, after=None) -> dict:
        codes = {"completed": 0, "failed": 1, "skipped": 2, "rejected": 3}
        body = {"status": status, "result_code": codes[status], "result_message": message}
        body |= {"site_id": self.uplink.site_code, "executed_at": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}
        for key in ("miner_id", "miner_key"):
            if command.get(key):
                body[key] = command[key]
        if command.get("command") or command.get("action"):
            body["command"] = command.get("command") or command.get("action")
        body |= {"device_id": self.uplink.device_id, "duration_ms": 40 if status == "completed" else 0}
        if self.uplink.zone_id:
            body["zone_id"] = self.uplink.zone_id
        if error_class:
            body["error_class"] = error_class
        if before is not None:
            body |= {"before": before, "after": after}
        return body
