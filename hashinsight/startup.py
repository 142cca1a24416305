"""Start-up refuses to run without its required settings (gunicorn, celery, manage.py): one line
naming each missing variable on stderr, exit status 2. `manage.py check` is the exception: it
lists every configuration problem as a system check (hashinsight/checks.py) instead."""

import sys

from django.conf import settings

MISSING = "hashinsight.E001"


def refuse_without_required_settings() -> None:
    missing = [message for check_id, message in getattr(settings, "CONFIG_ERRORS", []) if check_id == MISSING]
    if missing:
        sys.stderr.write("".join(f"ImproperlyConfigured: {message}\n" for message in missing))
        sys.exit(2)
