"""docs/COMPATIBILITY.md "Every original route" is true for this checkout, in both directions.

The original application's routes are docs/legacy/original_routes.csv (made from LEGACY_ROUTES.md
by scripts/legacy_routes_csv.py). Each must have exactly one row in the table, and its status must
match what Django serves here: `same shape` / `mapped` rows resolve with that method to a view that
has a handler for it; `not carried` / `replaced by …` rows do not (no pattern, or a view without
that method), and a `replaced by` target does resolve. So a route added here for an original path,
or one removed, fails this test until the table says so; the failure lists the rows to change.
"""

import csv
import re
import types
from pathlib import Path

import pytest
from django.http import JsonResponse
from django.test import Client
from django.urls import Resolver404, path, resolve
from django.views import View

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "docs" / "legacy" / "original_routes.csv"
DOC = ROOT / "docs" / "COMPATIBILITY.md"
SECTION = "## Every original route"
SERVED = ("same shape", "mapped")
METHODS = "GET|POST|PUT|PATCH|DELETE"
STATUS = re.compile(rf"^(same shape|mapped|not carried|replaced by `(?:({METHODS}) )?(/[^`\s]*)`)$")
PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
# the original's command ids were UUIDs; /api/v1/commands/<uuid> answers the original's shape
SAMPLE_UUID = "8b0f6c1e-3c5a-4f3e-9a57-2d1f0c9e7a11"
# function views (the console, the portal, probes) are asked through the test client
pytestmark = pytest.mark.django_db


def original_routes() -> list[tuple[str, str]]:
    with FIXTURE.open(newline="") as handle:
        return [(row["method"], row["path"]) for row in csv.DictReader(handle)]


def table_rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every data row of the tables under SECTION."""
    rows, inside = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("## "):
            inside = line.strip() == SECTION
            continue
        if not inside or not line.startswith("|"):
            continue
        cells = [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
        if cells[0] in ("Method", "") or set(cells[0]) <= {"-", ":"}:
            continue  # a header row or its separator
        rows.append((number, cells))
    return rows


def sample(route: str) -> str:
    """The route with a sample value for each parameter (Flask `<x>`, `<int:x>`, `<path:x>`)."""

    def value(match: re.Match) -> str:
        converter, name = match.group(1), match.group(2)
        if converter == "int":
            return "1"
        if converter == "path":
            return "a"
        return SAMPLE_UUID if name.endswith("command_id") else "S1"

    return PARAM.sub(value, route)


def served(method: str, route: str, urlconf=None, client: Client | None = None) -> tuple[bool, str]:
    """Whether this checkout answers `method route` with a view that handles that method."""
    url = sample(route)
    try:
        match = resolve(url, urlconf)
    except Resolver404:
        return False, "no route"
    view = getattr(match.func, "view_class", None)
    if view is None:  # a function view: ask it
        assert client is not None, f"{url} is a function view: pass a client"
        status = client.generic(method, url).status_code
        return status not in (404, 405, 410), f"{match.func.__module__}.{match.func.__name__} answers {status}"
    name = f"{view.__module__}.{view.__name__}"
    if getattr(view, "not_carried", False):  # a view that only refuses (410 NOT_CARRIED) serves nothing
        return False, f"{name} refuses with 410 NOT_CARRIED"
    if method.lower() in view.http_method_names and hasattr(view, method.lower()):
        return True, name
    return False, f"{name} has no {method}"


def check(routes: list[tuple[str, str]], text: str, urlconf=None, client: Client | None = None) -> list[str]:
    """Every way the table disagrees with the fixture or with what this checkout serves."""
    problems: list[str] = []
    rows: dict[tuple[str, str], tuple[int, str]] = {}
    for number, cells in table_rows(text):
        if len(cells) != 4:
            problems.append(f"COMPATIBILITY.md:{number}: want 4 cells (method, path, status, note), got {len(cells)}")
            continue
        method, route, status, note = cells[0], cells[1].strip("`"), cells[2], cells[3]
        key = (method, route)
        if key in rows:
            problems.append(f"COMPATIBILITY.md:{number}: {method} {route} is also on line {rows[key][0]}")
            continue
        rows[key] = (number, status)
        if key not in routes:
            problems.append(f"COMPATIBILITY.md:{number}: {method} {route} is not an original route (fixture)")
        parsed = STATUS.match(status)
        if not parsed:
            problems.append(
                f"COMPATIBILITY.md:{number}: {method} {route}: status {status!r} is not one of "
                "same shape | mapped | replaced by `[METHOD ]/path` | not carried"
            )
            continue
        if status == "not carried" and not note:
            problems.append(f"COMPATIBILITY.md:{number}: {method} {route}: not carried needs a reason")
        target = parsed.group(3)
        if target:
            ok, why = served(parsed.group(2) or "GET", target, urlconf, client)
            if not ok:
                problems.append(
                    f"COMPATIBILITY.md:{number}: {method} {route}: the replacement "
                    f"{parsed.group(2) or 'GET'} {target} is not served here ({why})"
                )
    for method, route in routes:
        if (method, route) not in rows:
            problems.append(f"missing row: | {method} | `{route}` | <status> | <here / reason> |")
            continue
        number, status = rows[(method, route)]
        ok, why = served(method, route, urlconf, client)
        if status in SERVED and not ok:
            problems.append(
                f"FLIP COMPATIBILITY.md:{number}: {method} {route} is marked {status!r} but is not served here "
                f"({why}): mark it `replaced by …` or `not carried`"
            )
        elif status not in SERVED and ok:
            problems.append(
                f"FLIP COMPATIBILITY.md:{number}: {method} {route} is marked {status!r} but is served here now "
                f"({why}): mark it `same shape` or `mapped`"
            )
    return problems


def test_every_original_route_has_one_true_row(client):
    routes = original_routes()
    assert len(routes) == len(set(routes)) > 0, "regenerate the fixture: scripts/legacy_routes_csv.py"
    problems = check(routes, DOC.read_text(), client=client)
    assert not problems, "docs/COMPATIBILITY.md 'Every original route' is out of date:\n" + "\n".join(problems)


# --- the checker itself fails on a doctored table or a doctored URL conf -----------------------


def _doctored(old: str, new: str) -> str:
    text = DOC.read_text()
    assert old in text
    return text.replace(old, new, 1)


def test_checker_names_a_missing_row(client):
    text = _doctored("| GET | `/hosting/api/power/bills` |", "| GET | `/hosting/api/power/bills-gone` |")
    problems = check(original_routes(), text, client=client)
    assert "missing row: | GET | `/hosting/api/power/bills` | <status> | <here / reason> |" in problems
    assert any("/hosting/api/power/bills-gone is not an original route" in p for p in problems)


def test_checker_flips_a_served_route_marked_not_carried(client):
    row = "| POST | `/api/collector/upload` | same shape |"
    problems = check(
        original_routes(), _doctored(row, "| POST | `/api/collector/upload` | not carried |"), client=client
    )
    assert len(problems) == 1
    assert "FLIP" in problems[0] and "is served here now (telemetry.api_edge.TelemetryUploadLegacyApi)" in problems[0]


def test_checker_flips_an_unserved_route_marked_same_shape(client):
    row = "| POST | `/hosting/api/power/bills/generate` | not carried |"
    text = _doctored(row, "| POST | `/hosting/api/power/bills/generate` | same shape |")
    problems = check(original_routes(), text, client=client)
    assert len(problems) == 1 and "is not served here (no route)" in problems[0]


def test_checker_refuses_a_method_the_view_does_not_have(client):
    # a miner of the operator pages is read here; editing one is not (the console edits miners)
    row = "| PUT | `/hosting/api/miners/<int:miner_id>` | replaced by `/admin/tenants/miner/` |"
    problems = check(
        original_routes(), _doctored(row, "| PUT | `/hosting/api/miners/<int:miner_id>` | mapped |"), client=client
    )
    assert len(problems) == 1 and "LegacyHostingMinerApi has no PUT" in problems[0]


def test_checker_refuses_a_replacement_that_is_not_served(client):
    old = "replaced by `GET /api/collector/status`"
    problems = check(original_routes(), _doctored(old, "replaced by `GET /api/collector/status-gone`"), client=client)
    assert len(problems) == 1 and "the replacement GET /api/collector/status-gone is not served" in problems[0]
    problems = check(original_routes(), _doctored(old, "replaced by `DELETE /api/collector/status`"), client=client)
    assert len(problems) == 1 and "CollectorStatusApi has no DELETE" in problems[0]


def test_checker_refuses_duplicates_bad_statuses_and_bare_not_carried(client):
    line = next(line for line in DOC.read_text().splitlines() if line.startswith("| GET | `/api/collector/manual` |"))
    problems = check(original_routes(), _doctored(line, f"{line}\n{line}"), client=client)
    assert len(problems) == 1 and "GET /api/collector/manual is also on line" in problems[0]
    problems = check(original_routes(), _doctored(line, line.replace("| not carried |", "| gone |")), client=client)
    assert len(problems) == 1 and "status 'gone' is not one of" in problems[0]
    bare = "| GET | `/api/collector/manual` | not carried |  |"
    problems = check(original_routes(), _doctored(line, bare), client=client)
    assert len(problems) == 1 and "not carried needs a reason" in problems[0]


class _PowerBills(View):
    def get(self, request):
        return JsonResponse({"success": True, "bills": []})


def test_checker_fails_when_someone_serves_an_original_route_without_updating_the_table(client):
    from hashinsight import urls

    urlconf = types.ModuleType("doctored_urls")
    urlconf.urlpatterns = [path("hosting/api/power/bills", _PowerBills.as_view()), *urls.urlpatterns]  # type: ignore[attr-defined]
    problems = check(original_routes(), DOC.read_text(), urlconf=urlconf, client=client)
    assert len(problems) == 1
    assert problems[0].startswith("FLIP COMPATIBILITY.md:")
    assert "GET /hosting/api/power/bills is marked 'not carried' but is served here now" in problems[0]
    assert "tests.test_compatibility_routes._PowerBills" in problems[0]


def test_the_fixture_script_reads_only_the_route_tables_and_merges_one_path_of_two_handlers():
    import importlib.util

    spec = importlib.util.spec_from_file_location("legacy_routes_csv", ROOT / "scripts" / "legacy_routes_csv.py")
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    text = "\n".join(
        [
            "### Collector-facing routes: original vs this project",
            "| # | Method path | Original |",
            "| C1 | POST /api/collector/upload | a.py:1 |",
            "## Collector and edge routes (3 routes)",
            "| method | path | original handler | request keys |",
            "|---|---|---|---|",
            "| GET | /api/collector/commands/pending | api/collector_api.py:1323 fetch | |",
            "| GET | /api/collector/commands/pending | api/legacy_adapter.py:76 poll | |",
            "## Operator hosting API and pages (`/hosting/api/*`) (1 routes)",
            "| PUT | /hosting/api/thermal/config/<int:config_id> | modules/hosting/routes.py:7438 update | |",
            "## Something else",
            "| GET | /not/a/route/table | x.py:1 | |",
        ]
    )
    assert script.extract(text) == [
        {
            "method": "GET",
            "path": "/api/collector/commands/pending",
            "section": "collector-edge",
            "original_handler": "api/collector_api.py:1323 fetch + api/legacy_adapter.py:76 poll",
        },
        {
            "method": "PUT",
            "path": "/hosting/api/thermal/config/<int:config_id>",
            "section": "operator-hosting",
            "original_handler": "modules/hosting/routes.py:7438 update",
        },
    ]
    with FIXTURE.open(newline="") as handle:
        sections = {row["section"] for row in csv.DictReader(handle)}
    assert sections == set(script.SECTIONS.values())
