"""gunicorn.conf.py and gunicorn's control socket (gunicorn ≥ 25.1, `gunicornc`). By default gunicorn
binds it at one path per user ($XDG_RUNTIME_DIR/gunicorn.ctl, else ~/.gunicorn/gunicorn.ctl), and a
second gunicorn of the same user unlinks the first one's socket to bind its own. The config turns
it off unless GUNICORN_CONTROL_SOCKET names a path for the instance: two gunicorns started from it
leave that shared path alone, and two given their own paths are each controlled at their own."""

import json
import subprocess
from pathlib import Path

import pytest

from hashinsight.tests import procs

pytestmark = pytest.mark.slow

GUNICORNC = str(Path(procs.PYTHON).parent / "gunicornc")


def _user_dirs(tmp_path: Path) -> dict:
    """A HOME and an XDG_RUNTIME_DIR of the test's own: where gunicorn's default socket would go."""
    (tmp_path / "home").mkdir()
    (tmp_path / "xdg").mkdir()
    return {"HOME": str(tmp_path / "home"), "XDG_RUNTIME_DIR": str(tmp_path / "xdg")}


def _stats(socket_path: Path) -> dict:
    result = subprocess.run(
        [GUNICORNC, "-s", str(socket_path), "-c", "show stats", "-j"],
        env=procs.clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def _two_gunicorns(tmp_path: Path, envs: list[dict]):
    servers = []
    try:
        for n, env in enumerate(envs):
            folder = tmp_path / f"g{n}"
            folder.mkdir()
            servers.append(procs.start_gunicorn(folder, WEB_CONCURRENCY="1", **env))
        return servers
    except BaseException:
        for server in servers:
            procs.stop(server)
        raise


def test_two_gunicorns_from_the_config_open_no_control_socket_by_default(django_db_setup, tmp_path):
    dirs = _user_dirs(tmp_path)
    servers = _two_gunicorns(tmp_path, [dirs, dirs])
    try:
        for server in servers:
            assert procs.http_get(server.port, "/alive").status_code == 200
            server.log_file.flush()
            assert "Control socket" not in server.log_path.read_text(), procs.log_tail(server)
        # Neither bound gunicorn's per-user default, so neither can take the other's.
        assert list(Path(dirs["XDG_RUNTIME_DIR"]).iterdir()) == []
        assert not (Path(dirs["HOME"]) / ".gunicorn").exists()
    finally:
        for server in servers:
            procs.stop(server)


def test_two_gunicorns_each_given_a_control_socket_both_stay_controllable(django_db_setup, tmp_path):
    dirs = _user_dirs(tmp_path)
    sockets = [tmp_path / "first.ctl", tmp_path / "second.ctl"]
    servers = _two_gunicorns(tmp_path, [{**dirs, "GUNICORN_CONTROL_SOCKET": str(path)} for path in sockets])
    try:
        for server, path in zip(servers, sockets, strict=True):
            procs.wait_until(path.exists, proc=server, what=f"control socket {path.name}")
        # Each socket answers for its own master (the pid the test started), the first one still
        # after the second started.
        for server, path in zip(servers, sockets, strict=True):
            stats = _stats(path)
            assert stats["pid"] == server.pid, stats
            assert stats["workers_current"] == 1, stats
        assert list(Path(dirs["XDG_RUNTIME_DIR"]).iterdir()) == []
    finally:
        for server in servers:
            procs.stop(server)


def test_why_two_gunicorns_on_one_control_socket_path_leave_the_first_unreachable(django_db_setup, tmp_path):
    # What gunicorn's per-user default does to two instances (here one path named for both): the
    # second unlinks the first one's socket and binds its own, so the first cannot be controlled.
    shared = tmp_path / "shared.ctl"
    dirs = {**_user_dirs(tmp_path), "GUNICORN_CONTROL_SOCKET": str(shared)}
    servers = _two_gunicorns(tmp_path, [dirs, dirs])
    try:
        _, second = servers
        procs.wait_until(lambda: shared.exists() and _stats(shared)["pid"] == second.pid, what="second took it")
        assert all(procs.http_get(s.port, "/alive").status_code == 200 for s in servers)  # both serve on
    finally:
        for server in servers:
            procs.stop(server)
