"""manage.py verify_telemetry_idempotency: PASS on the real ingest path, FAIL (exit 1) when the
endpoint double-counts."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection

from telemetry import services
from telemetry.models import TelemetryRaw
from tenants.models import CollectorToken, Miner
from verification.management.commands.verify_telemetry_idempotency import scratch_ensure

SMALL = {"miners": 3, "minutes": 8, "repeat": 2}


def run(capsys, **options) -> tuple[int, str]:
    try:
        call_command("verify_telemetry_idempotency", **{**SMALL, **options})
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().out


@pytest.mark.django_db
def test_the_real_ingest_path_passes(capsys):
    code, out = run(capsys)
    assert code == 0, out
    assert "FAIL" not in out
    assert out.strip().splitlines()[-1].startswith("PASS telemetry idempotency scratch=idem-")
    for step in ("step 1:", "step 2:", "step 3:"):
        assert step in out
    for tier in ("raw", "1m", "live", "15m", "daily"):
        assert f" {tier} " in out
    scratch = scratch_ensure(miners=3)
    assert TelemetryRaw.objects.filter(site=scratch.site).count() > 0
    assert CollectorToken.objects.filter(collector=scratch.collector, revoked_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_a_replay_that_adds_rows_fails(capsys, monkeypatch):
    # The classic bug: sample times taken from the server's clock, so every replay is "new".
    real = services.validate_records
    calls = iter(range(1, 10**6))

    def restamped(records, **kwargs):
        checked = real(records, **kwargs)
        shift = dt.timedelta(microseconds=next(calls))
        for row in checked.rows:
            row["ts"] += shift
        return checked

    monkeypatch.setattr(services, "validate_records", restamped)
    code, out = run(capsys)
    assert code == 1
    assert "FAIL re-sends accepted" in out and "FAIL 3 re-sends changed nothing" in out
    assert "FAIL set B (shuffled, overlapping replays) ends equal to set A" in out
    assert out.strip().splitlines()[-1].startswith("FAIL telemetry idempotency")


@pytest.mark.django_db
def test_aggregates_that_count_duplicates_fail_although_raw_stays_clean(capsys, monkeypatch):
    # Raw is insert-or-ignore, but the 1-minute tier adds every received sample, duplicates too.
    real = services.ingest_rows

    def counted_twice(**kwargs):
        stored = real(**kwargs)
        with connection.cursor() as cur:
            for row, miner_pk in zip(kwargs["rows"], kwargs["miner_pks"], strict=True):
                cur.execute(
                    "UPDATE telemetry_1m SET samples = samples + 1 WHERE site_id = %s AND miner_id = %s AND bucket = date_trunc('minute', %s)",
                    [kwargs["site_id"], miner_pk, row["ts"]],
                )
        return stored

    monkeypatch.setattr(services, "ingest_rows", counted_twice)
    code, out = run(capsys)
    assert code == 1
    assert "PASS re-sends accepted 0 records" in out  # raw and the counters are fine…
    assert "1m.samples:" in out  # …the aggregate drift is what is caught
    assert "FAIL set B (shuffled, overlapping replays) ends equal to set A" in out


@pytest.mark.django_db
def test_runs_reuse_the_scratch_site_but_never_each_others_miners():
    first = scratch_ensure(miners=3)
    second = scratch_ensure(miners=3)
    assert first.tag == second.tag and first.tag.startswith("idem-")
    assert first.site.pk == second.site.pk and first.site.code == f"{first.tag}-SITE"
    assert Miner.objects.filter(site=first.site).count() == 18  # two runs × sets R, A, B of 3
    # A rerun must not compare against the samples an earlier (maybe failed) run left behind.
    assert not {m.pk for m in first.sets["A"]} & {m.pk for m in second.sets["A"]}
