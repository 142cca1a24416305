"""Running `verify_tenant_isolation` from a test: its exit code and its report lines."""

import io

from django.core.management import call_command


def run_isolation(*args) -> tuple[int, list[str]]:
    out = io.StringIO()
    try:
        call_command("verify_tenant_isolation", *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue().splitlines()
