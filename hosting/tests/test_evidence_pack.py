"""Evidence packs: the zip's contents and figures, its standalone verify.py (run with `python3 -I`)
passing on a fresh pack and failing on any flipped byte, a dropped or swapped audit event; ABAC on a
shared site (nothing of another customer in any file); the API's 403/400 answers; a long period
built by the Celery task with progress."""

import csv
import datetime as dt
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine

from audit.models import AuditEvent
from hosting.models import EvidencePack
from hosting.tasks import evidence_pack_build_task
from hosting.tests.evidence_data import pack_world, unzip
from hosting.tests.test_downtime import m

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")  # packs are stored through the storage API


URL = "/api/v1/hosting/evidence_pack"
PYTHON = shutil.which("python3") or sys.executable


def iso(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def pw(world, noc_x):
    return pack_world(world, noc_x)


START, END, AT = m(0), m(60), m(70)


def request_pack(client, user, *, site="SITE-X", start=START, end=END, at=AT, **extra):
    client.force_login(user)
    with time_machine.travel(at, tick=False):
        return client.get(URL, {"site_id": site, "from": iso(start), "to": iso(end), **extra})


def rows(files, name) -> list[dict]:
    return list(csv.DictReader(io.StringIO(files[name].decode())))


@pytest.fixture
def pack_a(client, pw, customer_a):
    response = request_pack(client, customer_a)
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/zip"
    return b"".join(response.streaming_content)


def run_verify(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-I", "-S", "verify.py"], cwd=folder, capture_output=True, text=True, timeout=60, check=False
    )


def extract(data: bytes, folder: Path) -> Path:
    folder.mkdir()
    for name, body in unzip(data).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return folder


def test_a_pack_holds_the_customers_figures_timeline_and_chain(pack_a, pw, customer_a):
    files = unzip(pack_a)
    manifest = json.loads(files["manifest.json"])
    assert set(files) == {"manifest.json", *(f["path"] for f in manifest["files"])}
    assert manifest["period"] == {
        "from": "2026-11-02T10:00:00Z",
        "to": "2026-11-02T11:00:00Z",
        "minutes": 60.0,
        "figures_until": "2026-11-02T11:00:00Z",
    }
    assert manifest["scope"]["miners"] == 3 and manifest["metrics_tier"] == "1m"
    assert manifest["definitions"]["version"] == "downtime-definitions.v1"
    assert b"**Measured.**" in files["definitions.md"]
    by_miner = {r["miner_id"]: r for r in rows(files, "downtime/by_miner.csv")}
    a0 = pw.world.miners_a_x[0].miner_id
    assert set(by_miner) == {mi.miner_id for mi in pw.world.miners_a_x}
    assert float(by_miner[a0]["offline_minutes"]) == 10.0
    assert float(by_miner[a0]["availability_pct"]) == round(100 * 50 / 60, 3)
    (site,) = rows(files, "downtime/by_site.csv")
    assert (site["miners"], float(site["period_minutes"]), float(site["offline_minutes"])) == ("3", 180.0, 10.0)
    (interval,) = rows(files, "downtime/intervals.csv")
    assert (interval["miner_id"], interval["cause"], interval["started_at"], interval["ended_at"]) == (
        a0,
        "offline",
        "2026-11-02T10:10:00Z",
        "2026-11-02T10:20:00Z",
    )
    commands = rows(files, "timeline/commands.csv")
    assert [c["why"] for c in commands] == ["A fan tuning 0", "A fan tuning 1", "A fan tuning 2"]
    assert {c["created_by"] for c in commands} == {"noc-x"}
    alerts = rows(files, "timeline/alerts.csv")
    assert [(a["kind"], a["title"]) for a in alerts] == [("miner_offline", "A0 offline"), ("collector_dark", "")]
    assert [c["body"] for c in rows(files, "timeline/work_order_comments.csv")] == ["PSU ordered"]
    assert [w["reason"] for w in rows(files, "timeline/maintenance.csv")] == ["Site cooling check"]
    coverage = rows(files, "coverage/uploads_hourly.csv")
    assert [(c["hour"], c["uploads"], c["minutes_with_upload"]) for c in coverage] == [
        ("2026-11-02T10:00:00Z", "48", "48")
    ]
    assert rows(files, "timeline/collector_dark.csv") == [
        {"dark_from": "2026-11-02T10:44:30Z", "dark_to": "2026-11-02T10:52:30Z", "minutes": "8.0"}
    ]
    metrics = rows(files, "metrics/by_miner.csv")
    assert len(metrics) == 3 * 60 and {r["hashrate_avg_ths"] for r in metrics} == {"200.000", ""}
    assert sum(1 for r in metrics if r["hashrate_avg_ths"] == "") == 10  # a0's offline minutes: nothing hashed
    assert metrics[0]["temperature_max_c"] == "72.0" and metrics[0]["temperature_avg_c"] == "70.0"
    total = rows(files, "metrics/total.csv")
    assert len(total) == 60 and total[0]["miners"] == "3" and float(total[0]["hashrate_ths"]) == 600.0
    chain = [json.loads(line) for line in files["audit/tenant_chain.jsonl"].splitlines()]
    expected = AuditEvent.objects.filter(
        chain_key=f"tenant:{pw.world.tenant_a.pk}", occurred_at__gte=m(0), occurred_at__lt=m(60)
    ).order_by("seq")
    assert [e["hash"] for e in chain] == [e.hash for e in expected] and len(chain) >= 3
    verification = json.loads(files["audit/chain_verification.json"])
    assert [c["result"] for c in verification["chains"]] == ["PASS", "PASS"]
    assert verification["chains"][0]["head_hash"] == expected.last().hash or verification["chains"][0]["head_seq"]


def test_a_customers_pack_of_a_shared_site_holds_nothing_of_the_other_customer(pack_a, pw):
    files = unzip(pack_a)
    for name, body in files.items():
        text = body.decode("utf-8")
        for marker in pw.markers_b():
            assert marker not in text, f"{marker!r} in {name}"


def test_site_chain_events_of_the_period_are_stubs_only(client, pw, customer_a, tmp_path):
    from django.utils import timezone

    from audit.services import Actor
    from tenants.services import collector_token_create

    # chains never go back in time: the site's events are at the real clock, so is this period
    token, _ = collector_token_create(actor=Actor.system("test"), collector=pw.world.collector_x, label="now")
    now = timezone.now().replace(second=0, microsecond=0)
    response = request_pack(
        client, customer_a, start=now - dt.timedelta(hours=1), end=now + dt.timedelta(minutes=10), at=now
    )
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    files = unzip(data)
    site_chain = [json.loads(line) for line in files["audit/site_chain.jsonl"].splitlines()]
    assert site_chain and all(set(e) == {"chain", "seq", "prev_hash", "hash", "stub"} for e in site_chain)
    assert site_chain[-1]["hash"] == AuditEvent.objects.filter(chain_key="site:SITE-X").order_by("seq").last().hash
    assert not any(token.prefix.encode() in body for body in files.values())
    result = run_verify(extract(data, tmp_path / "now"))
    assert result.stdout.splitlines()[-1] == "PASS", result.stdout


def test_verify_py_passes_on_a_fresh_pack(pack_a, tmp_path):
    result = run_verify(extract(pack_a, tmp_path / "pack"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "PASS"
    # also given the zip itself
    (tmp_path / "pack.zip").write_bytes(pack_a)
    on_zip = subprocess.run(
        [PYTHON, "-I", "-S", str(tmp_path / "pack" / "verify.py"), str(tmp_path / "pack.zip")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert on_zip.returncode == 0 and on_zip.stdout.splitlines()[-1] == "PASS"


def test_verify_py_fails_when_any_one_byte_of_any_file_is_flipped(pack_a, tmp_path):
    fresh = extract(pack_a, tmp_path / "fresh")
    names = sorted(unzip(pack_a))
    assert len(names) >= 15
    for name in names:
        size = (fresh / name).stat().st_size
        for position in sorted({0, size // 2, size - 1}) if size else ():  # an empty chain file has no byte
            folder = tmp_path / f"flip-{names.index(name)}-{position}"
            shutil.copytree(fresh, folder)
            body = bytearray((folder / name).read_bytes())
            body[position] ^= 0x01
            (folder / name).write_bytes(bytes(body))
            result = run_verify(folder)
            assert result.returncode != 0, f"{name}@{position}: {result.stdout}"
            assert "PASS" not in result.stdout.splitlines()[-1:], f"{name}@{position}"
            shutil.rmtree(folder)


def _tamper_chain(folder: Path, edit) -> subprocess.CompletedProcess:
    """Edit audit/tenant_chain.jsonl and rewrite its manifest entry as a forger would."""
    import hashlib

    path = folder / "audit" / "tenant_chain.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(edit(lines)))
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["files"]:
        if entry["path"] == "audit/tenant_chain.jsonl":
            entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
            entry["bytes"] = path.stat().st_size
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return run_verify(folder)


def test_verify_py_fails_when_an_audit_event_is_dropped_even_with_the_manifest_rewritten(pack_a, tmp_path):
    for index in (0, 1, -1):
        folder = extract(pack_a, tmp_path / f"drop{index}")
        result = _tamper_chain(folder, lambda lines, i=index: [ln for j, ln in enumerate(lines) if j != i % len(lines)])
        assert result.returncode == 1, result.stdout
        assert result.stdout.splitlines()[-1] == "FAIL"
        assert "sequence break" in result.stdout or "events !=" in result.stdout


def test_verify_py_fails_when_two_audit_events_are_swapped(pack_a, tmp_path):
    folder = extract(pack_a, tmp_path / "swap")
    result = _tamper_chain(folder, lambda lines: [lines[1], lines[0], *lines[2:]])
    assert result.returncode == 1 and result.stdout.splitlines()[-1] == "FAIL"
    assert "seq=" in result.stdout and "sequence break" in result.stdout


def test_the_pack_verifier_canonicalises_like_the_server():
    from audit.canonical import CANONICAL_FIELDS, canonical_bytes
    from audit.standalone_verify import canonical as standalone_canonical
    from hosting.evidence import verify_pack

    event = {
        "chain": "tenant:1",
        "seq": 7,
        "occurred_at": "2026-11-02T10:00:00.123456Z",
        "actor_type": "user",
        "actor_id": "3",
        "actor_label": "Zoë",
        "action": "x.y.z",
        "entity_type": "a.b",
        "entity_id": "9",
        "tenant_id": 1,
        "site": "SITE-X",
        "payload": {"b": [1, "ü", {"z": None, "a": True}], "a": '\n\t"q"'},
    }
    assert verify_pack.FIELDS == CANONICAL_FIELDS
    assert verify_pack.canonical(event) == standalone_canonical(event) == canonical_bytes(**event)


def test_requesting_a_pack_is_audited(pack_a, pw):
    pack = EvidencePack.objects.get()
    actions = list(
        AuditEvent.objects.filter(entity_type="hosting.evidencepack", entity_id=str(pack.pk))
        .order_by("seq")
        .values_list("action", "chain_key", "actor_label")
    )
    key = f"tenant:{pw.world.tenant_a.pk}"
    assert actions == [
        ("hosting.evidence_pack.requested", key, "cust-a"),
        ("hosting.evidence_pack.built", key, "hosting.evidence_pack"),
    ]
    assert pack.status == "ready" and pack.progress == 100 and len(pack.sha256) == 64


# --- the API's refusals --------------------------------------------------------------------------------


def test_a_site_where_the_customer_has_no_miners_is_forbidden_like_a_missing_one(client, pw, customer_a):
    for site in ("SITE-Y", "NO-SUCH-SITE"):
        response = request_pack(client, customer_a, site=site)
        assert (response.status_code, response.json()["error_code"]) == (403, "FORBIDDEN")
    assert not EvidencePack.objects.exists()


def test_another_tenants_pack_is_forbidden_like_a_missing_one(client, pack_a, customer_b):
    pack = EvidencePack.objects.get()
    client.force_login(customer_b)
    for path in (f"/api/v1/hosting/evidence_packs/{pack.pk}", f"/api/v1/hosting/evidence_packs/{pack.pk}/download"):
        for target in (path, path.replace(str(pack.pk), "999999")):
            response = client.get(target)
            assert (response.status_code, response.json()["error_code"]) == (403, "FORBIDDEN"), target


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("yesterday", "2026-11-02T11:00:00Z", "from"),
        ("2026-11-02T11:00:00Z", "2026-11-02T10:00:00Z", "to"),
        ("2026-11-02T10:00:00Z", "2026-11-02T10:00:00Z", "to"),
        ("2026-07-01T00:00:00Z", "2026-11-02T00:00:00Z", "to"),
    ],
)
def test_bad_reversed_or_too_long_periods_are_400(client, pw, customer_a, start, end, field):
    client.force_login(customer_a)
    response = client.get(URL, {"site_id": "SITE-X", "from": start, "to": end})
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER"
    assert field in json.dumps(body)


def test_the_period_limit_follows_the_setting(client, pw, customer_a, settings):
    settings.EVIDENCE_PACK_MAX_DAYS = 2
    response = request_pack(client, customer_a, start=m(0), end=m(60 * 24 * 3))
    assert response.status_code == 400 and response.json()["error_code"] == "INVALID_PARAMETER"


# --- long periods: the Celery task --------------------------------------------------------------------


def test_a_long_period_is_queued_built_by_the_task_with_progress_and_downloaded(
    client, pw, customer_a, django_capture_on_commit_callbacks, tmp_path
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = request_pack(client, customer_a, start=m(-60 * 24), end=m(60 * 24), at=m(60 * 24 + 10))
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["progress"], body["download_url"]) == ("queued", 0, None)
    assert len(callbacks) == 1  # the task is sent once the request commits
    status = client.get(body["status_url"]).json()
    assert status["status"] == "queued"
    assert client.get(f"{body['status_url']}/download").json()["error_code"] == "CONFLICT"
    with time_machine.travel(m(60 * 24 + 11), tick=False):
        result = evidence_pack_build_task.apply(args=[body["id"]]).get()
    assert result == {"pack": body["id"], "status": "ready"}
    assert evidence_pack_build_task.apply(args=[body["id"]]).get()["status"] == "ready"  # twice: no rebuild
    status = client.get(body["status_url"]).json()
    assert (status["status"], status["progress"], status["step"]) == ("ready", 100, "ready")
    download = client.get(status["download_url"])
    assert download.status_code == 200
    data = b"".join(download.streaming_content)
    import hashlib

    assert hashlib.sha256(data).hexdigest() == status["sha256"] and len(data) == status["size"]
    manifest = json.loads(unzip(data)["manifest.json"])
    assert manifest["metrics_tier"] == "15m" and manifest["period"]["minutes"] == 2 * 24 * 60
    result = run_verify(extract(data, tmp_path / "long"))
    assert result.stdout.splitlines()[-1] == "PASS", result.stdout


def test_an_operator_names_the_tenant_and_gets_the_same_pack_scope(client, pw, noc_x, noc_y):
    response = request_pack(client, noc_x)
    assert response.status_code == 400 and "tenant" in json.dumps(response.json())
    response = request_pack(client, noc_x, tenant=pw.world.tenant_a.slug)
    assert response.status_code == 200
    manifest = json.loads(unzip(b"".join(response.streaming_content))["manifest.json"])
    assert manifest["scope"]["tenant"]["slug"] == pw.world.tenant_a.slug and manifest["scope"]["miners"] == 3
    response = request_pack(client, noc_y, tenant=pw.world.tenant_a.slug)
    assert (response.status_code, response.json()["error_code"]) == (403, "FORBIDDEN")


@pytest.mark.parametrize(
    ("hours", "miners", "tier"),
    [
        (1, 3, "1m"),
        (24, 1000, "1m"),
        (24, 5000, "15m"),  # 7.2 million 1m rows: over the budget
        (24 * 30, 50, "15m"),
        (24 * 7, 5000, "daily"),
        (24 * 93, 1, "15m"),
        (24 * 94, 1, "daily"),
    ],
)
def test_the_metric_tier_is_the_finest_within_the_row_budget(hours, miners, tier):
    from hosting.evidence.sections_downtime import metrics_tier

    assert metrics_tier(m(0), m(60 * hours), miners) == tier


def test_an_operator_reads_the_tenants_events_at_other_sites_only_as_stubs(client, pw, noc_x, tmp_path):
    from audit.services import Actor, audit_record

    w = pw.world
    with time_machine.travel(m(6), tick=False):
        audit_record(
            actor=Actor.system("test"),
            action="test.at_site_y",
            entity=w.miners_b_y[0],
            payload={"note": "Y-ONLY-SECRET"},
            tenant_id=w.tenant_b.pk,
            site_code=w.site_y.code,
        )
    response = request_pack(client, noc_x, tenant=w.tenant_b.slug)
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    files = unzip(data)
    chain = [json.loads(line) for line in files["audit/tenant_chain.jsonl"].splitlines()]
    stubs = [e for e in chain if e.get("stub")]
    assert len(stubs) == 1 and any(e.get("action") == "control.command.created" for e in chain)
    assert not any(b"Y-ONLY-SECRET" in body or w.site_y.code.encode() in body for body in files.values())
    assert run_verify(extract(data, tmp_path / "b")).stdout.splitlines()[-1] == "PASS"
