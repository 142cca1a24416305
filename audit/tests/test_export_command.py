import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from audit.services import Actor, audit_record

from .conftest import tamper

pytestmark = pytest.mark.django_db
SCRIPT = Path(__file__).resolve().parents[1] / "standalone_verify.py"


def _export(tmp_path, chain="tenant:5"):
    out = tmp_path / "chain.jsonl"
    call_command("export_audit_chain", "--chain", chain, "--out", str(out))
    return out


def _standalone(path):
    return subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=30)


def test_exported_chain_passes_the_standalone_verifier(tmp_path):
    for n in range(5):
        audit_record(
            actor=Actor.system("t"),
            action="t.x.updated",
            entity_type="t.x",
            entity_id="1",
            payload={"n": n, "t": 1.5},
            tenant_id=5,
        )
    result = _standalone(_export(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS" in result.stdout


def test_standalone_verifier_fails_on_a_tampered_export_source(tmp_path):
    events = [
        audit_record(
            actor=Actor.system("t"),
            action="t.x.updated",
            entity_type="t.x",
            entity_id="1",
            payload={"n": n},
            tenant_id=5,
        )
        for n in range(3)
    ]
    tamper("UPDATE audit_auditevent SET payload = '{\"n\": 99}' WHERE id = %s", [events[1].pk])
    result = _standalone(_export(tmp_path))
    assert result.returncode == 1
    assert "FAIL" in result.stdout


def test_export_of_an_unknown_chain_is_refused(tmp_path):
    with pytest.raises(Exception, match="no chain"):
        call_command("export_audit_chain", "--chain", "tenant:404", "--out", str(tmp_path / "x"))
