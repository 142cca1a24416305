"""docker-compose.yml, Dockerfile, the supervisor and systemd files and the tools script, checked
without a Docker engine or a systemd to run them: Debian's docker-compose resolves the compose file
(`docker-compose config`), nginx tests its config (`nginx -t`), `systemd-analyze verify` the units."""

import configparser
import getpass
import os
import re
import shutil
import subprocess

import pytest
import yaml

from hashinsight.tests import procs

BASE_DIR = procs.BASE_DIR
APP_SERVICES = {"web", "worker", "worker-reports", "beat"}


def _compose_config(tmp_path, extra_env: str):
    # A copy, so the check never reads or writes the developer's own .env.
    shutil.copy(BASE_DIR / "docker-compose.yml", tmp_path / "docker-compose.yml")
    (tmp_path / ".env").write_text((BASE_DIR / ".env.example").read_text() + extra_env)
    return subprocess.run(
        ["docker-compose", "--project-directory", str(tmp_path), "-f", str(tmp_path / "docker-compose.yml"), "config"],
        cwd=tmp_path,
        env=procs.clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )


def _makefile_recipes() -> dict:
    recipes, target = {}, None
    for line in (BASE_DIR / "Makefile").read_text().splitlines():
        if line.startswith("\t") and target:
            recipes[target]["recipe"].append(line.strip().lstrip("@"))
        elif re.match(r"^[$()A-Za-z_.-]+:", line) and not line.startswith("."):
            target, _, prereqs = line.partition(":")
            recipes[target] = {"prereqs": prereqs.split(), "recipe": []}
        elif not line.strip() or line.startswith("#"):
            target = None
    return recipes


@pytest.fixture(scope="module")
def compose(tmp_path_factory):
    result = _compose_config(
        tmp_path_factory.mktemp("compose"), "POSTGRES_PASSWORD=compose-pw\nSECRET_KEY=compose-secret\n"
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_runs_nginx_web_worker_beat_postgres_and_redis_each_with_a_healthcheck(compose):
    services = compose["services"]
    assert set(services) == APP_SERVICES | {"nginx", "postgres", "redis"}
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name


def test_compose_postgres_runs_with_the_settings_deployment_asks_for(compose):
    command = compose["services"]["postgres"]["command"]
    settings = dict(arg.split("=", 1) for arg in command[2::2])
    assert command[:2] == ["postgres", "-c"] and set(command[1::2]) == {"-c"}
    assert settings == {
        "max_connections": "100",
        "max_wal_size": "8GB",
        "wal_compression": "lz4",
        "checkpoint_timeout": "15min",
        "checkpoint_completion_target": "0.9",
    }


def test_compose_app_services_take_env_from_dotenv_and_reach_the_compose_services(compose):
    for name in APP_SERVICES:
        service = compose["services"][name]
        env = service["environment"]
        assert env["SECRET_KEY"] == "compose-secret"  # from .env
        assert env["DEBUG"] == "False"
        assert env["DATABASE_URL"] == "postgres://hashinsight:compose-pw@postgres:5432/hashinsight"
        # worker and beat (and manage.py) on PostgreSQL itself, whatever DATABASE_URL becomes
        assert env["DATABASE_DIRECT_URL"] == "postgres://hashinsight:compose-pw@postgres:5432/hashinsight"
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379/")
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    for name in ("worker", "beat"):  # they start once web has migrated
        assert compose["services"][name]["depends_on"]["web"]["condition"] == "service_healthy"


def test_compose_refuses_to_start_without_a_postgres_password(tmp_path):
    result = _compose_config(tmp_path, "")
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_the_image_is_built_and_started_with_the_same_steps_as_make_run(compose):
    make = _makefile_recipes()
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    # build: make venv (from requirements.lock) and make static (collectstatic); make run does both.
    assert "-r requirements.lock" in " ".join(make["$(STAMP)"]["recipe"])
    assert any("manage.py collectstatic" in line for line in make["static"]["recipe"])
    assert {"seed", "static"} <= set(make["run"]["prereqs"])
    assert re.search(r"^RUN make venv\b", dockerfile, re.M)
    assert re.search(r"^RUN .*\bmake static\b", dockerfile, re.M)
    # start: web runs make's migrate and seed recipes, then the Procfile's processes run.
    web_command = " ".join(compose["services"]["web"]["command"])
    for target in ("migrate", "seed"):
        for line in make[target]["recipe"]:
            # make's variables become compose's (interpolated with the same default)
            expected = line.replace("$(PY)", ".venv/bin/python").replace("$(DEMO_MINERS)", "50")
            assert expected in web_command, line
    procfile = _procfile()
    assert web_command.endswith("exec " + procfile["web"])
    for name in ("worker", "beat"):
        command = " ".join(compose["services"][name]["command"])
        assert command.startswith(procfile[name].split(" --concurrency")[0]), name
    ignored = (BASE_DIR / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git"} <= set(ignored)


def test_ensure_tools_is_silent_and_installs_nothing_when_the_tools_are_present():
    result = subprocess.run(
        [str(BASE_DIR / "scripts" / "ensure_tools.sh")],
        env=procs.clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == result.stderr == ""  # no apt-get ran
    for tool in ("docker-compose", "chromium", "chromedriver"):
        assert shutil.which(tool), tool


def _procfile() -> dict:
    return dict(line.split(": ", 1) for line in (BASE_DIR / "Procfile").read_text().splitlines() if line.strip())


def test_compose_lets_clients_in_through_nginx_only(compose, tmp_path):
    services = compose["services"]
    assert "ports" not in services["web"]  # gunicorn's sync workers are never dialled directly
    (port,) = services["nginx"]["ports"]
    assert (port["published"], port["target"]) in {(8000, 8080), ("8000", 8080)}
    # docker-compose 1.x prints a bind mount as "source:target:mode"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services["nginx"]["volumes"]}
    assert mounts["/etc/nginx/conf.d/default.conf"].endswith("/deploy/nginx/compose.conf")
    assert mounts["/etc/nginx/snippets/hashinsight-proxy.conf"].endswith("/deploy/nginx/hashinsight-proxy.conf")
    conf = (BASE_DIR / "deploy" / "nginx" / "compose.conf").read_text()
    assert f"server web:{services['web']['environment']['PORT']};" in conf
    # nginx itself accepts it (web's name swapped for an address: `nginx -t` resolves upstreams).
    site = tmp_path / "compose.conf"
    site.write_text(
        conf.replace("server web:8000;", "server 127.0.0.1:8000;")
        .replace("listen 8080;", f"listen 127.0.0.1:{procs.free_port()};")
        .replace("/etc/nginx/snippets/", f"{BASE_DIR}/deploy/nginx/")
    )
    temp = "".join(
        f"{kind}_temp_path {tmp_path}/{kind}; " for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; events {{}} http {{ access_log off; {temp} include {site}; }}"
    )
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    check = subprocess.run(
        [binary, "-t", "-p", str(tmp_path), "-e", "stderr", "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stderr


def test_supervisor_runs_every_procfile_line_and_restarts_each():
    conf = configparser.RawConfigParser()
    conf.read(BASE_DIR / "deploy" / "supervisor" / "hashinsight.conf")
    programs = {s.split(":", 1)[1]: conf[s] for s in conf.sections() if s.startswith("program:")}
    assert set(programs) == set(_procfile())
    for name, program in programs.items():
        assert program["command"] == f"%(here)s/../../scripts/proc.sh {name}", name
        assert program["autorestart"] == "true" and int(program["startretries"]) >= 10, name
        assert program["stopasgroup"] == "true", name  # gunicorn and celery have children
    assert conf["supervisord"]["nodaemon"] == "true"


def test_systemd_units_restart_on_failure_and_pass_systemd_analyze_verify(tmp_path):
    units = sorted((BASE_DIR / "deploy" / "systemd").glob("hashinsight*"))
    services = {u.stem.removeprefix("hashinsight-"): u for u in units if u.suffix == ".service"}
    assert set(services) == APP_SERVICES
    user = getpass.getuser()
    for unit in units:  # installed at /opt/hashinsight as the hashinsight user; here: this checkout
        text = unit.read_text().replace("/opt/hashinsight", str(BASE_DIR))
        text = re.sub(r"^(User|Group)=hashinsight$", rf"\1={user}", text, flags=re.M)
        (tmp_path / unit.name).write_text(text)
    for name, unit in services.items():
        text = unit.read_text()
        assert f"ExecStart=/opt/hashinsight/scripts/proc.sh {name}\n" in text and name in _procfile()
        assert "Restart=on-failure\n" in text and re.search(r"^RestartSec=\d+$", text, re.M), name
        assert "StartLimitIntervalSec=0\n" in text, name  # never gives up
        assert "EnvironmentFile=/opt/hashinsight/.env\n" in text, name
    binary = shutil.which("systemd-analyze")
    assert binary, "systemd-analyze is missing (Debian's systemd package)"
    result = subprocess.run(
        [binary, "verify", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        timeout=60,
        env={**procs.clean_env(), "SYSTEMD_LOG_LEVEL": os.environ.get("SYSTEMD_LOG_LEVEL", "notice")},
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
