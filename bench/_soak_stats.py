"""CPU and RSS of the soak's processes, from /proc (bench/soak.py). Not a bench itself."""

import os

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, utime + stime in ticks, RSS in bytes) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[21]) * PAGE


def _ppids() -> dict[int, int]:
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            got = _stat(int(name))
            if got:
                out[int(name)] = got[0]
    return out


class ProcStats:
    """Roles of processes (a root pid and, with `children`, all its descendants), sampled now and
    then: CPU seconds used while watched and the largest RSS the role had at once. A pid first seen
    at the first sample counts from there; one that appears later counts from its start."""

    def __init__(self, roles: dict[str, list[int]], *, children: bool = True):
        self.roots = {role: set(pids) for role, pids in roles.items()}
        self.children = children
        self.first: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.role_of: dict[int, str] = {}
        self.rss_max: dict[str, int] = {}
        self.sampled = 0

    def add(self, role: str, pid: int) -> None:
        self.roots.setdefault(role, set()).add(pid)

    def add_postgres(self, query, database: str) -> None:
        """This database's PostgreSQL backends (the server is shared: only these count)."""
        for (pid,) in query("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)):
            self.roots.setdefault("postgres backends", set()).add(pid)

    def sample(self) -> None:
        ppids = _ppids() if self.children else {}
        kids: dict[int, list[int]] = {}
        for pid, parent in ppids.items():
            kids.setdefault(parent, []).append(pid)
        rss: dict[str, int] = {}
        for role, roots in self.roots.items():
            todo, seen = list(roots), set()
            while todo:
                pid = todo.pop()
                if pid in seen:
                    continue
                seen.add(pid)
                todo += kids.get(pid, [])
                got = _stat(pid)
                if got is None:
                    continue
                self.role_of[pid] = role
                self.first.setdefault(pid, got[1] if self.sampled == 0 else 0)
                self.last[pid] = got[1]
                rss[role] = rss.get(role, 0) + got[2]
        for role, value in rss.items():
            self.rss_max[role] = max(self.rss_max.get(role, 0), value)
        self.sampled += 1

    def summary(self, wall: float) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for pid, role in self.role_of.items():
            g = out.setdefault(role, {"role": role, "cpu_sec": 0.0, "processes": 0})
            g["cpu_sec"] += (self.last[pid] - self.first[pid]) / TICK
            g["processes"] += 1
        for role, g in out.items():
            g["cpu_sec"] = round(g["cpu_sec"], 2)
            g["cpu_pct"] = round(g["cpu_sec"] / wall * 100, 1) if wall else 0.0
            g["rss_max_mb"] = round(self.rss_max.get(role, 0) / 2**20, 1)
        return out


def machine_busy(since: tuple[int, int] | None = None):
    """Without `since`: the (busy, total) jiffies of /proc/stat now. With it: % busy since then."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    now = (sum(values) - idle, sum(values))
    if since is None:
        return now
    busy, total = now[0] - since[0], now[1] - since[1]
    return round(busy / total * 100, 1) if total else 0.0
