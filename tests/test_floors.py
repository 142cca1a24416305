"""SPEC §1: imports go one way, down the floors. Walks the AST of every module outside tests and
migrations and fails on any import of a project package on a higher floor (or of the
`verification/` roof from anything but management commands), naming the offending line."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A module may import its own floor and any floor below it.
FLOORS = ["core", "audit", "tenants", "telemetry", "control", "hosting", "rules", "portal", "hashinsight"]
# verification/ sits beside the roof: only management commands and tests import it.
VERIFICATION = "verification"
PACKAGES = {*FLOORS, VERIFICATION}
MAX_LINES = 500


def _modules():
    for package in sorted(PACKAGES):
        base = ROOT / package
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "tests" in parts or "migrations" in parts:
                continue
            yield path


def _imported_packages(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def _floor(package):
    return len(FLOORS) if package == VERIFICATION else FLOORS.index(package)


def violations():
    found = []
    for path in _modules():
        rel = path.relative_to(ROOT)
        own = rel.parts[0]
        lines = path.read_text().splitlines()
        for lineno, target in _imported_packages(ast.parse(path.read_text(), str(path))):
            if target not in PACKAGES or target == own:
                continue
            if target == VERIFICATION and "management" not in rel.parts:
                found.append(
                    f"{rel}:{lineno}: only management commands and tests import verification/: "
                    f"{lines[lineno - 1].strip()}"
                )
            elif target != VERIFICATION and _floor(target) > _floor(own):
                found.append(f"{rel}:{lineno}: {own} imports {target}, a higher floor: {lines[lineno - 1].strip()}")
    return found


def test_imports_only_go_down_the_floors():
    found = violations()
    assert not found, "imports that climb a floor:\n" + "\n".join(found)


def test_the_checker_sees_an_upward_import(tmp_path, monkeypatch):
    pkg = tmp_path / "audit"
    pkg.mkdir()
    (pkg / "bad.py").write_text("import os\nfrom control.models import Command\n")
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "fine.py").write_text("from core.errors import DomainError\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert violations() == ["audit/bad.py:2: audit imports control, a higher floor: from control.models import Command"]


def test_no_module_is_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
