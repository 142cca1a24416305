"""In a real headless Chromium: a customer opens Reports, sees last month's availability, and
downloads the PDF — a real PDF with their figure and name and nothing of the other customer at
the same site."""

import datetime as dt
import io
from pathlib import Path

import pytest
from django.utils import timezone
from pypdf import PdfReader

from hosting.models import DowntimeInterval
from hosting.reports.sla import month_start, next_month, previous_month, sla_report
from portal.tests import test_browser as tb
from tenants.models import MinerOwnership

pytestmark = pytest.mark.django_db(transaction=True)
browser, page = tb.browser, tb.page  # the module's Chromium and a fresh context per test


def test_a_customer_opens_reports_and_downloads_a_real_pdf(live_server, page, world, customer_a):
    customer_a.email = "cust-a@example.com"
    customer_a.save()
    last = previous_month(month_start(timezone.now()))
    MinerOwnership.objects.update(valid_from=last - dt.timedelta(days=30))
    a0, b0 = world.miners_a_x[0], world.miners_b_x[0]
    for miner, cause, start, minutes in (
        (a0, "offline", last + dt.timedelta(days=1, hours=10), 90),
        (world.miners_a_x[1], "maintenance", last + dt.timedelta(days=2), 45),
        (b0, "offline", last, 600),
    ):
        DowntimeInterval.objects.create(
            miner=miner,
            tenant=miner.tenant,
            site=miner.site,
            cause=cause,
            started_at=start,
            ended_at=start + dt.timedelta(minutes=minutes),
        )
    expected = sla_report(customer_a, start=last, end=next_month(last), tenant=world.tenant_a)["summary"]
    figure = f"{expected['availability_pct']:.3f} %"
    assert expected["unplanned_minutes"] == 90

    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    tb._login(page, live_server.url, "cust-a@example.com")
    page.click("nav >> text=Reports")
    assert page.url.endswith(f"/portal/t/{world.tenant_a.slug}/reports/")
    assert page.locator("#report-availability").inner_text() == figure
    assert page.locator("#availability-chart rect").count() >= 28  # one bar per day of the month
    assert b0.miner_id not in page.content()
    with page.expect_download() as info:
        page.click("#download-pdf")
    download = info.value
    assert download.suggested_filename == (
        f"sla-{world.tenant_a.slug}-all-sites-{last:%Y%m%d}-{next_month(last):%Y%m%d}.pdf"
    )
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF-")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert figure in text
    assert world.tenant_a.name in text
    assert a0.miner_id in text  # the top miners by downtime
    for other in world.miners_b_x + world.miners_b_y:
        assert other.miner_id not in text
    assert world.tenant_b.name not in text
    assert errors == []
