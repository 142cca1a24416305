"""The SLA report as CSV: a summary block of `# key,value` lines (what, whose, when, the totals),
then one row per miner and owner. Spreadsheet tools skip or show the comment lines; the table
below them reads with any CSV parser (`comment="#"` in pandas)."""

import csv
import io

from hosting.selectors.downtime import DOWN_CAUSES as CAUSES  # unmeasured has its own column

MINER_COLUMNS = [
    "site",
    "miner_id",
    "zone",
    "tenant",
    "model",
    "nominal_ths",
    "delivered_ths",
    "period_minutes",
    "measured_minutes",
    "unmeasured_minutes",
    "planned_minutes",
    "unplanned_minutes",
    *(f"{c}_minutes" for c in CAUSES),
    "availability_pct",
    "uptime_pct",
]


def _iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z") if hasattr(value, "isoformat") else str(value)


def _num(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def summary_lines(report: dict) -> list[tuple[str, str]]:
    s = report["summary"]
    site = report["site"]
    lines = [
        ("report", f"SLA report ({report['version']})"),
        ("tenant", report["tenant"]["name"]),
        ("site", f"{site['code']} {site['name']}".strip() if site else "all sites"),
        ("from", _iso(report["period"]["from"])),
        ("to", _iso(report["period"]["to"])),
        ("counted_until", _iso(report["period"]["counted_until"])),
        ("generated_at", _iso(report["generated_at"])),
        ("definitions", report["definitions"]["version"] + " (docs/DOWNTIME.md)"),
        ("miners", _num(s["miners"])),
        ("availability_pct", _num(s["availability_pct"])),
        ("uptime_pct", _num(s["uptime_pct"])),
        ("period_minutes", _num(s["period_minutes"])),
        ("measured_minutes", _num(s["measured_minutes"])),
        ("unmeasured_minutes", _num(s["unmeasured_minutes"])),
        ("planned_minutes", _num(s["planned_minutes"])),
        ("unplanned_minutes", _num(s["unplanned_minutes"])),
    ]
    lines += [(f"{c}_minutes", _num(s["downtime_minutes"][c])) for c in CAUSES]
    lines += [
        ("nominal_ths", _num(s["nominal_ths"])),
        ("delivered_ths", _num(s["delivered_ths"])),
        ("delivered_pct", _num(s["delivered_pct"])),
        ("hashrate_tier", s["hashrate_tier"]),
    ]
    return lines


def _neutralised(value: str) -> str:
    # A cell a spreadsheet would run as a formula (=, +, -, @ first) gets a leading quote.
    return "'" + value if value[:1] in ("=", "+", "-", "@") and not _is_number(value) else value


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def report_csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for key, value in summary_lines(report):
        writer.writerow([f"# {key}", _neutralised(value)])
    writer.writerow(MINER_COLUMNS)
    for row in report["miners"]:
        cells = []
        for col in MINER_COLUMNS:
            if col.endswith("_minutes") and col[: -len("_minutes")] in CAUSES:
                value = row["downtime_minutes"][col[: -len("_minutes")]]
            else:
                value = row.get(col)
            cells.append(_neutralised(_num(value) if value is not None else ""))
        writer.writerow(cells)
    return out.getvalue()
