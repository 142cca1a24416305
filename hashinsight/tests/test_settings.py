"""Start-up configuration, checked the way production starts: `manage.py` in a clean
environment (no TESTING, no .env)."""

import secrets

import pytest

from hashinsight.tests import procs

REQUIRED = ("SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS", "CELERY_BROKER_URL")


def _production_env(**overrides):
    values = {
        "DEBUG": "False",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": procs.database_url(),
        "ALLOWED_HOSTS": "noc.example.com",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/14",
        "COLLECTOR_KEY_KEK": secrets.token_hex(32),
    }
    return procs.clean_env(**{**values, **overrides})


@pytest.mark.parametrize("name", REQUIRED)
def test_a_missing_required_variable_stops_start_up_naming_it(name):
    env = _production_env()
    del env[name]
    result = procs.manage("migrate", "--check", env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"ImproperlyConfigured: required environment variable {name} is not set (DEBUG=False)"
    ]


def test_an_empty_required_variable_counts_as_missing():
    result = procs.manage("showmigrations", env=_production_env(SECRET_KEY=""))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "ImproperlyConfigured: required environment variable SECRET_KEY is not set (DEBUG=False)"
    ]


def test_the_wsgi_app_and_the_worker_refuse_to_start_without_a_required_variable():
    env = _production_env()
    del env["DATABASE_URL"]
    for code in (
        "import hashinsight.wsgi",
        "from hashinsight.startup import refuse_without_required_settings as r; r()",
    ):
        result = procs.python("-c", code, env=env)
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            "ImproperlyConfigured: required environment variable DATABASE_URL is not set (DEBUG=False)"
        ]


def test_check_lists_every_configuration_problem_together_with_ids():
    env = _production_env(
        AUDIT_RETENTION_DAYS="30",
        COMMAND_POLL_LIMIT="many",
        COLLECTOR_POLL_RATE="fast",
        COMMAND_RATE_LIMITS="reboot=often",
        TELEMETRY_1M_RETENTION_DAYS="1000",
        COMMAND_DEFAULT_TTL_SEC="999999",
        LOG_FORMAT="xml",
        COLLECTOR_KEY_KEK="too-short",
    )
    del env["SECRET_KEY"]
    result = procs.manage("check", "--deploy", env=env)
    assert result.returncode == 1
    out = result.stderr
    for line in (
        "(hashinsight.E001) required environment variable SECRET_KEY is not set (DEBUG=False)",
        "(hashinsight.E002) AUDIT_RETENTION_DAYS=30 must be 90, 365 or 2555 (7 years)",
        "(hashinsight.E003) COMMAND_POLL_LIMIT='many' is not a valid int",
        "(hashinsight.E004) COLLECTOR_POLL_RATE='fast' is not a rate",
        "(hashinsight.E005) COMMAND_RATE_LIMITS='reboot=often' is malformed",
        "(hashinsight.E006) TELEMETRY_1M_RETENTION_DAYS=1000 must be at least 1 and at most TELEMETRY_15M_RETENTION_DAYS=730",
        "(hashinsight.E007) COMMAND_DEFAULT_TTL_SEC=999999 must be between 10 and COMMAND_MAX_TTL_SEC=86400",
        "(hashinsight.E008) LOG_FORMAT='xml' must be json or console",
        "(hashinsight.E010) COLLECTOR_KEY_KEK is not a 32-byte key",
    ):
        assert line in out, out


@pytest.mark.django_db
def test_deploy_checks_are_clean_under_production_settings():
    result = procs.manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_names_a_missing_collector_key_kek():
    env = _production_env()
    del env["COLLECTOR_KEY_KEK"]
    result = procs.manage("check", "--deploy", env=env)
    assert result.returncode == 1
    assert "(hashinsight.E010) COLLECTOR_KEY_KEK is not set (DEBUG=False)" in result.stderr
