"""The SLA report as a PDF a person would send to a customer: a Django template
(templates/hosting/sla_report_pdf.html) with inline SVG charts, laid out by WeasyPrint.

The document fetches nothing: styles and charts are inline and the URL fetcher refuses every
URL, so rendering reads no file and no network address whatever the data holds."""

from django.template.loader import render_to_string

from hosting.reports.chart import availability_svg, causes_svg
from hosting.reports.definitions_html import markdown_html

TEMPLATE = "hosting/sla_report_pdf.html"


def _no_fetch(url: str, *args, **kwargs):
    raise ValueError(f"the SLA report fetches no resources ({url[:40]!r})")


def report_context(report: dict) -> dict:
    """What the PDF template and the portal's Reports page both show."""
    return {
        "report": report,
        "s": report["summary"],
        "availability_chart": availability_svg(report["days"]),
        "causes_chart": causes_svg(report["causes"]),
        "definitions_html": markdown_html(report["definitions"]["text"], skip_title=True),
    }


def report_html(report: dict) -> str:
    return render_to_string(TEMPLATE, report_context(report))


def report_pdf(report: dict) -> bytes:
    from weasyprint import HTML  # imported on use: loading pango costs ~0.5 s at process start

    return HTML(string=report_html(report), url_fetcher=_no_fetch).write_pdf()


def report_filename(report: dict, ext: str) -> str:
    """sla-<tenant>-<site or all-sites>-<from>-<to>.<ext>, from slugs and codes only."""
    tenant = report["tenant"]["slug"] or "all-tenants"
    site = report["site"]["code"] if report["site"] else "all-sites"
    period = report["period"]
    name = f"sla-{tenant}-{site}-{period['from']:%Y%m%d}-{period['to']:%Y%m%d}.{ext}"
    return "".join(ch if ch.isalnum() or ch in "-._" else "-" for ch in name)
