"""The canonical form is what the docs say: audit/standalone_verify.py — stdlib json + hashlib,
nothing from this codebase — reproduces every stored hash and checks an exported chain."""

import ast
import datetime as dt
import decimal
import io
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import time_machine

from audit import standalone_verify
from audit.export import audit_chain_export
from audit.models import AuditEvent
from audit.services import Actor, EventSpec, audit_purge_expired, audit_record, audit_record_many, audit_seal_segments
from audit.tests.conftest import tamper

pytestmark = pytest.mark.django_db

SCRIPT = Path(standalone_verify.__file__)
ODD = Actor("user", "7", 'Zoë "ops" \\ admin\t')

AWKWARD_PAYLOADS = [
    {"name": "Ünïcödé 矿机 🚀", "rtl": "שלום", "combining": "e\u0301", "ls": "a\u2028b", "bom": "\ufeff"},
    {"ctl": "".join(chr(c) for c in range(1, 32)) + "\x7f", "quote": '"', "backslash": "\\", "slash": "/"},
    {"nul": "a\x00b", "lone_surrogate": "x\ud800y"},
    {"nested": {"z": {"b": [1, {"y": None, "a": True}], "a": False}, "A": [], "": {}}, "10": 1, "9": 2, "é": 3, "e": 4},
    {"big": 2**63, "bigger": -(2**100), "max": 2**63 - 1, "min": -(2**63), "zero": 0},
    {
        "float": 2.5,
        "tiny": 1e-300,
        "huge": 1.5e300,
        "whole": 3.0,
        "neg": -0.0,
        "nan": float("nan"),
        "inf": float("inf"),
    },
    {
        "decimal": decimal.Decimal("12.3400"),
        "when": dt.datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
        "day": dt.date(2025, 1, 2),
    },
    {"uuid": uuid.UUID(int=1), "tuple": (1, "a"), "set": {"b", "a"}, 5: "int key", None: "none key"},
    {},
    {"null": None, "list": [None, [], [[]]]},
]


@pytest.fixture
def awkward_chain():
    tenant_events = audit_record_many(
        actor=ODD,
        events=[EventSpec("t.odd.recorded", "t.odd", str(i), p, tenant_id=3) for i, p in enumerate(AWKWARD_PAYLOADS)],
    )
    site_event = audit_record(
        actor=ODD, action="t.odd.recorded", entity_type="t.ödd", entity_id="ß", payload={"x": 1}, site_code="SITE-É"
    )
    return [*tenant_events, site_event]


def stored_as_exported(event: AuditEvent) -> dict:
    """A stored row as an export line presents it, built from the ORM, not from audit.export."""
    fields = event.canonical_fields()
    return fields | {"occurred_at": event.occurred_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def test_standalone_verifier_imports_only_the_standard_library():
    imported = set()
    for node in ast.walk(ast.parse(SCRIPT.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported and imported <= set(sys.stdlib_module_names)


def test_stdlib_reimplementation_reproduces_every_stored_hash(awkward_chain):
    stored = list(AuditEvent.objects.order_by("chain_key", "seq"))
    assert len(stored) == len(AWKWARD_PAYLOADS) + 1
    for event in stored:
        assert standalone_verify.event_hash(event.prev_hash, stored_as_exported(event)) == event.hash, event.payload


def test_payloads_are_normalised_to_the_json_the_canonical_form_allows(awkward_chain):
    by_entity = {e.entity_id: e.payload for e in AuditEvent.objects.filter(chain_key="tenant:3")}
    assert by_entity["2"] == {"nul": "a\ufffdb", "lone_surrogate": "x\ufffdy"}
    assert by_entity["4"] == {"big": str(2**63), "bigger": str(-(2**100)), "max": 2**63 - 1, "min": -(2**63), "zero": 0}
    assert by_entity["5"] == {
        "float": "2.5",
        "tiny": "1e-300",
        "huge": "1.5e+300",
        "whole": "3.0",
        "neg": "-0.0",
        "nan": "nan",
        "inf": "inf",
    }
    assert by_entity["6"] == {"decimal": "12.3400", "when": "2025-01-02T03:04:05.000006Z", "day": "2025-01-02"}
    assert by_entity["7"] == {
        "uuid": str(uuid.UUID(int=1)),
        "tuple": [1, "a"],
        "set": ["a", "b"],
        "5": "int key",
        "None": "none key",
    }
    assert by_entity["3"]["nested"] == {"z": {"b": [1, {"y": None, "a": True}], "a": False}, "A": [], "": {}}


def test_canonical_bytes_are_sorted_compact_utf8():
    event = {
        "chain": "platform",
        "seq": 1,
        "occurred_at": "2025-01-02T03:04:05.000006Z",
        "actor_type": "system",
        "actor_id": "x",
        "actor_label": "x",
        "action": "a.b.c",
        "entity_type": "e",
        "entity_id": "1",
        "tenant_id": None,
        "site": None,
        "payload": {"b": "é\n", "a": [1, None]},
    }
    assert (
        standalone_verify.canonical(event)
        == (
            '{"action":"a.b.c","actor_id":"x","actor_label":"x","actor_type":"system","chain":"platform","entity_id":"1",'
            '"entity_type":"e","occurred_at":"2025-01-02T03:04:05.000006Z","payload":{"a":[1,null],"b":"é\\n"},"seq":1,'
            '"site":null,"tenant_id":null}'
        ).encode()
    )


def export(key: str, **kwargs) -> bytes:
    out = io.BytesIO()
    audit_chain_export(chain_key=key, out=out, **kwargs)
    return out.getvalue()


def run_script(data: bytes, tmp_path) -> tuple[int, str]:
    path = tmp_path / "export.jsonl"
    path.write_bytes(data)
    done = subprocess.run([sys.executable, "-I", str(SCRIPT), str(path)], capture_output=True, text=True, timeout=30)
    return done.returncode, done.stdout


def test_standalone_script_passes_an_exported_chain(awkward_chain, tmp_path):
    data = export("tenant:3") + export("site:SITE-É")
    code, out = run_script(data, tmp_path)
    assert code == 0, out
    assert (
        f"chain=tenant:3 events={len(AWKWARD_PAYLOADS)} last_seq={len(AWKWARD_PAYLOADS)} last_hash={awkward_chain[-2].hash}"
        in out
    )
    assert f"chain=site:SITE-É events=1 last_seq=1 last_hash={awkward_chain[-1].hash}" in out
    assert out.splitlines()[-1] == "PASS"


def test_standalone_script_locates_tampering_in_an_export(awkward_chain, tmp_path):
    victim = awkward_chain[3]
    tamper("UPDATE audit_auditevent SET payload = jsonb_set(payload, '{e}', '5') WHERE id = %s", [victim.pk])
    code, out = run_script(export("tenant:3"), tmp_path)
    assert code == 1
    assert f"FAIL line=4 chain=tenant:3 seq=4 stored hash {victim.hash} != recomputed " in out

    lines = export("tenant:3").splitlines(keepends=True)
    code, out = run_script(b"".join(lines[:2] + lines[3:]), tmp_path)
    assert code == 1 and "FAIL line=3 chain=tenant:3 seq=4 sequence gap: follows seq 2" in out


def test_standalone_script_links_an_export_to_a_purged_segment(tmp_path):
    with time_machine.travel(dt.datetime(2025, 1, 10, tzinfo=dt.UTC), tick=False):
        audit_record(actor=ODD, action="t.a.b", entity_type="t", entity_id="1", payload={"é": 1}, tenant_id=3)
    with time_machine.travel(dt.datetime(2025, 2, 10, tzinfo=dt.UTC), tick=False):
        audit_record(actor=ODD, action="t.a.b", entity_type="t", entity_id="2", tenant_id=3)
        audit_seal_segments()
    assert audit_purge_expired(now=dt.datetime(2025, 6, 1, tzinfo=dt.UTC), retention_days=90) == 1

    data = export("tenant:3", first_seq=2)
    assert data.startswith(b'{"checkpoint":')
    code, out = run_script(data, tmp_path)
    assert (code, out.splitlines()[-1]) == (0, "PASS")
    code, out = run_script(data.split(b"\n", 1)[1], tmp_path)
    assert code == 1 and "sequence gap: follows seq 0" in out


@pytest.mark.parametrize("payload", AWKWARD_PAYLOADS, ids=range(len(AWKWARD_PAYLOADS)))
def test_canonical_bytes_are_the_sorted_compact_json_of_the_event(payload):
    """canonical_bytes assembles the form from pieces serialised before the head lock; the result
    is byte for byte the one JSON object the docs define (and standalone_verify rebuilds)."""
    import json

    from audit.canonical import canonical_bytes, normalize_payload

    event = {
        "chain": "tenant:3",
        "seq": 12345678901,
        "occurred_at": "2026-11-28T20:00:00.000001Z",
        "actor_type": ODD.kind,
        "actor_id": ODD.id,
        "actor_label": ODD.label,
        "action": "t.odd.recorded",
        "entity_type": "t.ödd",
        "entity_id": "ß",
        "tenant_id": 3,
        "site": "SITE-É",
        "payload": normalize_payload(payload),
    }
    expected = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert canonical_bytes(**event) == expected
    assert (
        canonical_bytes(**event | {"tenant_id": None, "site": None, "seq": 1})
        == json.dumps(
            event | {"tenant_id": None, "site": None, "seq": 1},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
    )
