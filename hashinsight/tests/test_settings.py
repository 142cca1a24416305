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
    }
    return procs.clean_env(**{**values, **overrides})


@pytest.mark.parametrize("name", REQUIRED)
def test_a_missing_required_variable_stops_start_up_naming_it(name):
    env = _production_env()
    del env[name]
    result = procs.manage("check", env=env)
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"ImproperlyConfigured: required environment variable {name} is not set (DEBUG=False)"
    ]


def test_an_empty_required_variable_counts_as_missing():
    result = procs.manage("check", env=_production_env(SECRET_KEY=""))
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        "ImproperlyConfigured: required environment variable SECRET_KEY is not set (DEBUG=False)"
    ]


@pytest.mark.django_db
def test_deploy_checks_are_clean_under_production_settings():
    result = procs.manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
