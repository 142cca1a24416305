"""DB_CONNECT_TIMEOUT_SEC: libpq's connect_timeout on every database alias (settings_env.db_url_config),
read in a fresh process the way production starts, and a connection to a database that never
answers failing with a timeout instead of hanging."""

import json
import socket

from hashinsight.tests import procs

# Prints each alias's connect_timeout (value and type), then the configuration problems found.
SHOW = (
    "import json, django; django.setup(); from django.conf import settings; "
    "print(json.dumps({'aliases': {a: [repr(d['OPTIONS'].get('connect_timeout')), d['OPTIONS'].get('sslmode')] "
    "for a, d in settings.DATABASES.items()}, 'errors': settings.CONFIG_ERRORS}))"
)
# Connects the default alias and prints how it failed.
CONNECT = (
    "import django, json; django.setup(); from django.db import connection, OperationalError\n"
    "try:\n    connection.ensure_connection()\n"
    "except OperationalError as e:\n    print(json.dumps({'error': type(e).__name__, 'message': str(e)}))\n"
    "else:\n    print(json.dumps({'error': None}))"
)


def _env(**overrides) -> dict:
    return procs.clean_env(DJANGO_SETTINGS_MODULE="hashinsight.settings", TESTING="1", **overrides)


def _show(**overrides) -> dict:
    result = procs.python("-c", SHOW, env=_env(**overrides))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_every_alias_gets_the_default_timeout_of_five_seconds():
    shown = _show(
        DATABASE_URL="postgres://u@127.0.0.1:5432/a",
        DATABASE_REPLICA_URL="postgres://u@127.0.0.1:5433/a?sslmode=require",
    )
    assert shown["aliases"] == {"default": ["5", None], "replica": ["5", "require"]}
    assert shown["errors"] == []


def test_the_setting_and_a_timeout_in_the_url_are_whole_seconds_the_url_winning():
    shown = _show(
        DB_CONNECT_TIMEOUT_SEC="12",
        DATABASE_URL="postgres://u@127.0.0.1:5432/a?connect_timeout=3",
        DATABASE_REPLICA_URL="postgres://u@127.0.0.1:5433/a",
    )
    # django-environ casts "3" itself; an int either way (repr without quotes).
    assert shown["aliases"] == {"default": ["3", None], "replica": ["12", None]}


def test_a_malformed_timeout_in_the_url_is_a_configuration_error_and_the_default_applies():
    # django-environ leaves "2.5" a string: libpq would refuse it at the first connection.
    shown = _show(DATABASE_URL="postgres://u@127.0.0.1:5432/a?connect_timeout=2.5")
    assert shown["aliases"]["default"] == ["5", None]
    assert shown["errors"] == [
        [
            "hashinsight.E003",
            "connect_timeout='2.5' (DB_CONNECT_TIMEOUT_SEC or a database URL) is not a whole number of seconds",
        ]
    ]
    assert _show(DB_CONNECT_TIMEOUT_SEC="soon")["errors"] == [
        ["hashinsight.E003", "DB_CONNECT_TIMEOUT_SEC='soon' is not a valid int"]
    ]
    negative = _show(DB_CONNECT_TIMEOUT_SEC="-1")
    assert negative["aliases"]["default"] == ["5", None]
    assert negative["errors"] == [["hashinsight.E003", "DB_CONNECT_TIMEOUT_SEC=-1 must be 0 or more"]]


def test_a_database_that_never_answers_fails_with_a_timeout_instead_of_hanging():
    # A listening socket nobody accepts on: the kernel completes the TCP handshake, libpq sends its
    # start-up packet and no answer ever comes — a host behind a firewall that drops, a wedged server.
    # Without connect_timeout libpq waits for ever (the subprocess's own limit would fail the test).
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(8)
        port = blackhole.getsockname()[1]
        for env in (
            {"DB_CONNECT_TIMEOUT_SEC": "2", "DATABASE_URL": f"postgres://u@127.0.0.1:{port}/a"},
            {"DATABASE_URL": f"postgres://u@127.0.0.1:{port}/a?connect_timeout=2"},
        ):
            result = procs.python("-c", CONNECT, env=_env(**env), timeout=60)
            assert result.returncode == 0, result.stderr
            failed = json.loads(result.stdout.splitlines()[-1])
            assert failed["error"] == "OperationalError", failed
            assert "timeout" in failed["message"], failed
