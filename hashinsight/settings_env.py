"""Reading the environment for the settings: the .env file, DEBUG / TESTING, typed readers that
record a malformed value instead of dying (hashinsight.E003), required variables (E001). Split out of
settings.py so its parts (settings_identity.py) read the environment the same way."""

import os
import sys
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
TESTING = "pytest" in sys.modules or env.bool("TESTING", default=False)
# A local .env is read when present (make run creates one from .env.example); real
# environment variables always win over it. Tests never read it: they must not touch dev data.
# ENV_FILE names another file; ENV_FILE= (empty) reads none (containers, start-up checks).
_ENV_FILE = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if not TESTING and _ENV_FILE:
    environ.Env.read_env(_ENV_FILE, overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# Dev-only fallbacks: used only when DEBUG=True (or under pytest). Production has no default for any of these.
_DEV_DEFAULTS = {
    "SECRET_KEY": "insecure-dev-only-key-never-used-with-debug-off",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/hashinsight",
    "ALLOWED_HOSTS": "localhost,127.0.0.1,[::1]",
    # Tests get their own broker database, so a running dev worker never takes their tasks.
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/14" if TESTING else "redis://127.0.0.1:6379/1",
}


# Configuration problems found while reading the environment, as (check id, message). They are
# reported together as Django system checks (hashinsight/checks.py: `manage.py check --deploy`);
# every other start-up (gunicorn, celery, any other manage.py command) stops on a missing required
# variable with one line naming it (hashinsight/startup.py).
CONFIG_ERRORS: list[tuple[str, str]] = []
# What a missing required variable reads as until start-up stops: never usable, never empty
# (Django refuses to load settings with an empty SECRET_KEY, and the check must still run).
_MISSING = {
    "SECRET_KEY": "missing-" + "x" * 50,
    "DATABASE_URL": "postgres://missing.invalid/missing",
    "ALLOWED_HOSTS": "missing.invalid",
    "CELERY_BROKER_URL": "redis://missing.invalid:6379/0",
}


def _typed(kind):
    """env.int / env.float / env.bool that record a malformed value (hashinsight.E003) and go on
    with the default, so `check` lists every bad variable at once instead of dying on the first."""
    read = getattr(env, kind)

    def get(name, *, default):
        try:
            return read(name, default=default)
        except (ValueError, environ.ImproperlyConfigured):
            CONFIG_ERRORS.append(("hashinsight.E003", f"{name}={env.str(name)!r} is not a valid {kind}"))
            return default

    return get


_int, _float, _bool = _typed("int"), _typed("float"), _typed("bool")


def _required(name):
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG or TESTING:
        return _DEV_DEFAULTS[name]
    CONFIG_ERRORS.append(("hashinsight.E001", f"required environment variable {name} is not set (DEBUG=False)"))
    return _MISSING[name]


# Global options of the `celery` command that take a value (the token after them is no subcommand).
_CELERY_VALUE_OPTIONS = {"-A", "--app", "-b", "--broker", "--result-backend", "--loader", "--config", "--workdir"}


def process_role(argv: list[str]) -> str:
    """What this process is, from its command line: "worker" (`celery … worker`), "beat"
    (`celery … beat`), "manage" (`manage.py <command>`, runserver excepted), or "" (gunicorn,
    runserver, pytest, the other celery commands). Those three connect to DATABASE_DIRECT_URL
    when it is set (settings.py; docs/DEPLOYMENT.md "PgBouncer")."""
    if not argv:
        return ""
    program = Path(argv[0])
    if program.name == "manage.py":
        return "" if argv[1:2] == ["runserver"] else "manage"
    if program.name != "celery" and not (program.name == "__main__.py" and program.parent.name == "celery"):
        return ""
    args = iter(argv[1:])
    for arg in args:
        if arg in _CELERY_VALUE_OPTIONS:
            next(args, None)
        elif not arg.startswith("-"):
            return arg if arg in ("worker", "beat") else ""
    return ""


# Seconds libpq waits for a database connection (0: for ever, libpq's own default).
DB_CONNECT_TIMEOUT_SEC = _int("DB_CONNECT_TIMEOUT_SEC", default=5)
if DB_CONNECT_TIMEOUT_SEC < 0:
    CONFIG_ERRORS.append(("hashinsight.E003", f"DB_CONNECT_TIMEOUT_SEC={DB_CONNECT_TIMEOUT_SEC} must be 0 or more"))
    DB_CONNECT_TIMEOUT_SEC = 5


def db_url_config(url: str) -> dict:
    """env.db_url_config with libpq's connect_timeout always set, so a database that does not answer
    (a host gone, a firewall that drops packets) fails a connection in seconds instead of the TCP
    stack's minutes. DB_CONNECT_TIMEOUT_SEC (default 5) unless the URL's query string names its own;
    django-environ hands that one over as given ("2.5", "10s"), so it is made a whole number of
    seconds here or recorded as malformed (hashinsight.E003) and replaced by the default."""
    config = env.db_url_config(url)
    options = config.setdefault("OPTIONS", {})
    default = DB_CONNECT_TIMEOUT_SEC
    given = options.get("connect_timeout", default)
    try:
        seconds = int(str(given).strip())
        if seconds < 0:
            raise ValueError
    except ValueError:
        problem = (
            f"connect_timeout={given!r} (DB_CONNECT_TIMEOUT_SEC or a database URL) is not a whole number of seconds"
        )
        CONFIG_ERRORS.append(("hashinsight.E003", problem))
        seconds = default
    options["connect_timeout"] = seconds
    return config
