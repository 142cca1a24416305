"""The SLA report with exact numbers: intervals of every kind over a known three-day period, the
figures per period, site, day and miner, delivered vs nominal hashrate, the CSV and the PDF — and
that a customer's report of a shared site holds nothing of another customer's."""

import csv
import datetime as dt
import io

import pytest
from pypdf import PdfReader

from hosting.models import DowntimeInterval
from hosting.reports.csv import MINER_COLUMNS, report_csv
from hosting.reports.pdf import report_pdf
from hosting.reports.sla import report_period, sla_report
from hosting.selectors.downtime import downtime_summary
from hosting.tests.test_downtime import healthy, m, run, samples
from telemetry.models import Telemetry15m
from telemetry.tests.tier_rows import insert_1m
from tenants.models import MinerOwnership

pytestmark = pytest.mark.django_db
D1 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
END = D1 + dt.timedelta(days=3)
NOW = dt.datetime(2026, 11, 10, 12, 0, tzinfo=dt.UTC)


def at(day: int, hhmm: str) -> dt.datetime:
    hour, minute = map(int, hhmm.split(":"))
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=dt.UTC)


def interval(miner, cause, start, end, tenant=None):
    return DowntimeInterval.objects.create(
        miner=miner, tenant=tenant or miner.tenant, site=miner.site, started_at=start, ended_at=end, cause=cause
    )


def quarter(miner, bucket, ghs):
    samples = 90
    Telemetry15m.objects.create(
        site_id=miner.site_id,
        tenant_id=miner.tenant_id,
        miner_id=miner.pk,
        bucket=bucket,
        samples=samples,
        online_samples=samples,
        hashrate_5s_sum=ghs * samples,
        hashrate_5s_count=samples,
        temperature_max_sum=0.0,
        temperature_max_count=0,
        frequency_sum=0.0,
        frequency_count=0,
        first_ts=bucket,
        last_ts=bucket,
        updated_at=bucket,
    )


@pytest.fixture
def month(world):
    """Three days 1–3 Nov: tenant A's three miners at site X have downtime of every cause, tenant
    B's miner at the same site is down the whole time (it must never show in A's report)."""
    MinerOwnership.objects.update(valid_from=D1 - dt.timedelta(days=30))
    a0, a1, a2 = world.miners_a_x
    interval(a0, "zero_hashrate", at(1, "00:00") - dt.timedelta(minutes=10), at(1, "00:15"))  # 15 min inside
    interval(a0, "offline", at(1, "10:00"), at(1, "11:00"))
    interval(a1, "maintenance", at(2, "23:30"), at(3, "00:30"))  # 30 + 30 across midnight
    interval(a2, "unmeasured", at(3, "12:00"), at(3, "12:20"))
    interval(a2, "command", at(3, "13:00"), at(3, "13:10"))
    interval(a2, "curtailment", at(4, "01:00"), at(4, "02:00"))  # after the period
    interval(world.miners_b_x[0], "offline", D1, END)
    # a0 hashes 150 TH/s for an hour in the 15m tier; one newer minute only in 1m (rollup behind)
    for q in range(4):
        quarter(a0, at(1, "00:00") + dt.timedelta(minutes=15 * q), 150_000.0)
    insert_1m(a0.site_id, a0.tenant_id, a0.pk, at(2, "00:00"), samples=6, online=5, hashrate=120_000.0)
    for b in world.miners_b_x:  # B's hashrate at the shared site: never in A's figures
        quarter(b, at(1, "00:00"), 9_000_000.0)
    return world


def test_a_customers_report_has_exact_figures_for_the_period(month, customer_a):
    report = sla_report(customer_a, start=D1, end=END, now=NOW)
    s = report["summary"]
    assert s["miners"] == 3
    assert s["period_minutes"] == 3 * 3 * 1440
    assert s["unmeasured_minutes"] == 20
    assert s["measured_minutes"] == 12960 - 20
    assert s["downtime_minutes"] == {
        "offline": 60,
        "zero_hashrate": 15,
        "curtailment": 0,
        "maintenance": 60,
        "command": 10,
        "unmeasured": 20,
    }
    assert (s["planned_minutes"], s["unplanned_minutes"]) == (60, 85)
    assert s["availability_pct"] == 99.343  # (12940 − 85) / 12940
    assert s["uptime_pct"] == 98.879  # (12940 − 85 − 60) / 12940
    assert report["tenant"]["name"] == month.tenant_a.name
    assert report["site"] is None and [r["code"] for r in report["sites"]] == ["SITE-X"]
    # the same figures as the downtime selector's
    summary = downtime_summary(customer_a, start=D1, end=END, now=NOW)
    assert summary["availability_pct"] == s["availability_pct"]


def test_days_split_intervals_at_utc_midnight(month, customer_a):
    days = sla_report(customer_a, start=D1, end=END, now=NOW)["days"]
    assert [d["date"] for d in days] == [dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)]
    assert [d["period_minutes"] for d in days] == [4320, 4320, 4320]
    assert [d["unplanned_minutes"] for d in days] == [75, 0, 10]
    assert [d["planned_minutes"] for d in days] == [0, 30, 30]
    assert [d["unmeasured_minutes"] for d in days] == [0, 0, 20]
    assert [d["availability_pct"] for d in days] == [98.264, 100.0, 99.767]
    assert [d["uptime_pct"] for d in days] == [98.264, 99.306, 99.07]


def test_per_miner_rows_and_top_miners(month, customer_a):
    report = sla_report(customer_a, start=D1, end=END, now=NOW)
    a0, a1, a2 = month.miners_a_x
    rows = {r["miner_id"]: r for r in report["miners"]}
    assert set(rows) == {a0.miner_id, a1.miner_id, a2.miner_id}
    assert rows[a0.miner_id]["unplanned_minutes"] == 75
    assert rows[a0.miner_id]["availability_pct"] == 98.264
    assert rows[a1.miner_id]["planned_minutes"] == 60 and rows[a1.miner_id]["availability_pct"] == 100.0
    assert rows[a2.miner_id]["measured_minutes"] == 4300
    assert rows[a2.miner_id]["availability_pct"] == 99.767
    assert [r["miner_id"] for r in report["top_miners"]] == [a0.miner_id, a1.miner_id, a2.miner_id]


def test_delivered_hashrate_is_the_tiers_average_over_the_period_against_the_nominal(month, customer_a):
    s = sla_report(customer_a, start=D1, end=END, now=NOW)["summary"]
    assert s["hashrate_tier"] == "15m"
    # 4 quarters × 15 min × 150,000 GH/s + one minute × 120,000 × 5/6 samples online, over 4,320 minutes
    assert s["delivered_ths"] == round((4 * 15 * 150_000 + 100_000) / 4320 / 1000, 3)
    assert s["nominal_ths"] == 600
    assert s["delivered_pct"] == round(100 * s["delivered_ths"] / 600, 3)


def test_a_short_recent_period_reads_the_one_minute_tier(month, customer_a):
    s = sla_report(customer_a, start=at(2, "00:00"), end=at(2, "01:00"), now=NOW)["summary"]
    assert s["hashrate_tier"] == "1m"
    assert s["delivered_ths"] == round(100_000 / 60 / 1000, 3)


def test_an_operator_names_the_tenant_and_sees_only_that_tenants_miners(month, noc_x):
    report = sla_report(noc_x, start=D1, end=END, tenant=month.tenant_b, site=month.site_x, now=NOW)
    assert {r["miner_id"] for r in report["miners"]} == {b.miner_id for b in month.miners_b_x}
    assert report["summary"]["downtime_minutes"]["offline"] == 4320
    assert report["summary"]["availability_pct"] == 50.0


def test_the_csv_has_a_summary_block_and_one_row_per_miner(month, customer_a):
    report = sla_report(customer_a, start=D1, end=END, site=month.site_x, now=NOW)
    text = report_csv(report)
    lines = text.splitlines()
    summary = dict(row for row in csv.reader(line for line in lines if line.startswith("# ")))
    assert summary["# tenant"] == month.tenant_a.name
    assert summary["# availability_pct"] == "99.343"
    assert summary["# unmeasured_minutes"] == "20"
    assert summary["# maintenance_minutes"] == "60"
    assert summary["# from"] == "2026-11-01T00:00:00Z"
    table = list(csv.DictReader(io.StringIO("\n".join(line for line in lines if not line.startswith("# ")))))
    assert list(table[0]) == MINER_COLUMNS
    a0 = month.miners_a_x[0]
    row = next(r for r in table if r["miner_id"] == a0.miner_id)
    assert (row["site"], row["offline_minutes"], row["zero_hashrate_minutes"], row["availability_pct"]) == (
        "SITE-X",
        "60",
        "15",
        "98.264",
    )
    assert len(table) == 3
    for b in month.miners_b_x:
        assert b.miner_id not in text
    assert month.tenant_b.name not in text


def test_the_pdf_is_a_real_pdf_with_the_figures_and_nothing_of_another_customer(month, customer_a):
    report = sla_report(customer_a, start=D1, end=END, site=month.site_x, now=NOW)
    pdf = report_pdf(report)
    assert pdf.startswith(b"%PDF-")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Service level report" in text
    assert month.tenant_a.name in text
    assert "99.343 %" in text
    assert "Availability per day" in text and "Downtime by cause" in text
    assert "Unmeasured" in text and "Definitions" in text
    for a in month.miners_a_x:
        assert a.miner_id in text  # top miners by downtime
    for b in month.miners_b_x + month.miners_b_y:
        assert b.miner_id not in text
    assert month.tenant_b.name not in text


def test_the_report_agrees_with_the_downtime_pass(farm_hour, superuser):
    """End to end over an hour: the pass writes the intervals, the report counts them."""
    miner = farm_hour.miners_a_x[0]
    healthy(farm_hour, 0, 60, skip=[miner])
    samples(miner, 0, 10)
    samples(miner, 10, 22, online=False)
    samples(miner, 22, 60)
    run(farm_hour, 0, 60)
    report = sla_report(superuser, start=m(0), end=m(60), tenant=farm_hour.tenant_a, now=m(65))
    assert report["summary"]["downtime_minutes"]["offline"] == 12
    assert report["summary"]["period_minutes"] == 3 * 60
    assert report["summary"]["availability_pct"] == round(100 * (180 - 12) / 180, 3)


@pytest.fixture
def farm_hour(world):
    MinerOwnership.objects.update(valid_from=m(0) - dt.timedelta(days=1))
    return world


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (END, D1, "from"),
        (D1, D1, "from"),
        (D1, D1 + dt.timedelta(days=401), "to"),
        (D1, None, "to"),
    ],
)
def test_reversed_empty_or_too_long_periods_are_refused(start, end, field):
    from core.errors import InvalidParameter

    with pytest.raises(InvalidParameter) as err:
        report_period(start, end, now=NOW)
    assert err.value.extra["field"] == field


def test_the_default_period_is_this_month():
    assert report_period(None, None, now=NOW) == (D1, dt.datetime(2026, 12, 1, tzinfo=dt.UTC))


def test_the_definitions_render_as_escaped_html():
    from hosting.reports.definitions_html import markdown_html

    html = markdown_html(
        "# Title\n\n**Minute.** a *b* `c` <script>x</script>\n\n| k | v |\n|---|---|\n| `a` | b |\n\n- one\n  two\n- three",
        skip_title=True,
    )
    assert "Title" not in html
    assert "<p><strong>Minute.</strong> a <em>b</em> <code>c</code> &lt;script&gt;x&lt;/script&gt;</p>" in html
    assert "<table><thead><tr><th>k</th><th>v</th></tr></thead><tbody><tr><td><code>a</code></td><td>b</td>" in html
    assert "<ul><li>one two</li><li>three</li></ul>" in html


def test_the_daily_chart_has_one_bar_per_day_and_a_floor_below_the_worst_day(month, customer_a):
    from hosting.reports.chart import availability_svg, axis_floor

    days = sla_report(customer_a, start=D1, end=END, now=NOW)["days"]
    svg = availability_svg(days)
    assert svg.count("<rect") == 3
    assert "2026-11-01: 98.264 % available" in svg
    assert axis_floor([98.264, 100.0]) == 95.0
    assert axis_floor([]) == 99.0


def test_the_15m_tier_is_read_once_with_jit_off_and_the_setting_ends_with_it(month, customer_a):
    """One scan of the period's 15m rows gives the sums and the newest bucket (the 1m tail starts
    after it, as test_delivered_hashrate_… checks); PostgreSQL's JIT is off for it only, even
    inside the test's own transaction."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with connection.cursor() as cur:
        cur.execute("SHOW jit")
        default = cur.fetchone()[0]
    with CaptureQueriesContext(connection) as ctx:
        sla_report(customer_a, start=D1, end=END, now=NOW)
    statements = [q["sql"] for q in ctx.captured_queries]
    reads = [i for i, sql in enumerate(statements) if 'FROM "telemetry_15m"' in sql]
    assert len(reads) == 1, statements
    assert "MAX" in statements[reads[0]] and "SUM" in statements[reads[0]]
    assert "set_config('jit', 'off', true)" in statements[reads[0] - 1]
    with connection.cursor() as cur:
        cur.execute("SHOW jit")
        assert cur.fetchone()[0] == default
