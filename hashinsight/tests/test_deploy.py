"""docker-compose.yml, Dockerfile and the tools script, checked without a Docker engine:
Debian's docker-compose parses and resolves the compose file (`docker-compose config`)."""

import re
import shutil
import subprocess

import pytest
import yaml

from hashinsight.tests import procs

BASE_DIR = procs.BASE_DIR
APP_SERVICES = {"web", "worker", "beat"}


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


def test_compose_runs_web_worker_beat_postgres_and_redis_each_with_a_healthcheck(compose):
    services = compose["services"]
    assert set(services) == APP_SERVICES | {"postgres", "redis"}
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name


def test_compose_postgres_runs_with_the_settings_deployment_asks_for(compose):
    command = compose["services"]["postgres"]["command"]
    settings = dict(arg.split("=", 1) for arg in command[2::2])
    assert command[:2] == ["postgres", "-c"] and set(command[1::2]) == {"-c"}
    assert settings == {"max_connections": "100", "max_wal_size": "8GB", "wal_compression": "lz4"}


def test_compose_app_services_take_env_from_dotenv_and_reach_the_compose_services(compose):
    for name in APP_SERVICES:
        service = compose["services"][name]
        env = service["environment"]
        assert env["SECRET_KEY"] == "compose-secret"  # from .env
        assert env["DEBUG"] == "False"
        assert env["DATABASE_URL"] == "postgres://hashinsight:compose-pw@postgres:5432/hashinsight"
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
    procfile = dict(line.split(": ", 1) for line in (BASE_DIR / "Procfile").read_text().splitlines() if line.strip())
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
