"""Extract the original application's routes from LEGACY_ROUTES.md into a CSV fixture.

The fixture (docs/legacy/original_routes.csv) is what tests/test_compatibility_routes.py reads on a
clean checkout, so CI does not depend on the shared product docs. Regenerate it when
LEGACY_ROUTES.md changes:

    .venv/bin/python scripts/legacy_routes_csv.py /work/shared/LEGACY_ROUTES.md > docs/legacy/original_routes.csv

Only the four route tables are read ("Collector and edge routes", "Command and telemetry API",
"Customer portal", "Operator hosting API"); the hand-read comparison tables above them repeat those
routes. One CSV row per (method, path): where the original served one path from two handlers
(`/api/collector/commands/pending` in collector_api.py and legacy_adapter.py) both are kept in
`original_handler`, joined by " + ".
"""

import csv
import re
import sys
from pathlib import Path

SECTIONS = {
    "Collector and edge routes": "collector-edge",
    "Command and telemetry API": "command-telemetry",
    "Customer portal": "customer-portal",
    "Operator hosting API": "operator-hosting",
}
HEADER = ["method", "path", "section", "original_handler"]


def extract(text: str) -> list[dict[str, str]]:
    rows: dict[tuple[str, str], dict[str, str]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:]
            section = next((slug for name, slug in SECTIONS.items() if title.startswith(name)), "")
            continue
        if not section or not line.startswith("| "):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not re.fullmatch(r"[A-Z]+", cells[0]) or not cells[1].startswith("/"):
            continue  # the header row and its separator
        method, route, handler = cells[0], cells[1], cells[2]
        key = (method, route)
        if key in rows:
            if handler not in rows[key]["original_handler"]:
                rows[key]["original_handler"] += f" + {handler}"
            continue
        rows[key] = {"method": method, "path": route, "section": section, "original_handler": handler}
    return list(rows.values())


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    rows = extract(Path(argv[1]).read_text())
    writer = csv.DictWriter(sys.stdout, fieldnames=HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    print(f"{len(rows)} routes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
