"""`make test-pgbouncer` runs the whole suite: every test file that plain pytest collects (pytest.ini's
testpaths) lies in one of scripts/test_pgbouncer.py's SUITES, or in an EXCLUDED path that says why
not (docs/DEPLOYMENT.md "PgBouncer"). A new app's tests, or a suite dropped from the list, would
otherwise never meet the pooler."""

import configparser
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("test_pgbouncer_script", ROOT / "scripts" / "test_pgbouncer.py")
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def _under(path: Path, roots: list[str]) -> bool:
    return any(path.is_relative_to(root) for root in roots)


def test_every_test_file_of_the_suite_runs_through_the_pooler_or_is_excluded_with_a_reason():
    script = _script()
    parser = configparser.ConfigParser()
    parser.read(ROOT / "pytest.ini")
    testpaths = parser["pytest"]["testpaths"].split()
    files = sorted(path.relative_to(ROOT) for testpath in testpaths for path in (ROOT / testpath).rglob("test_*.py"))
    assert len(files) > 100  # the glob found the suite
    for entry in [*script.SUITES, *script.EXCLUDED]:
        assert (ROOT / entry).is_dir(), f"{entry} in scripts/test_pgbouncer.py is no directory"
    for excluded in script.EXCLUDED:
        assert _under(Path(excluded), script.SUITES), f"{excluded} is in no suite: excluding it means nothing"
    missed = [str(path) for path in files if not _under(path, script.SUITES)]
    assert missed == [], f"never run through PgBouncer, and not in EXCLUDED: {missed}"


def test_options_alone_keep_the_default_list_and_paths_replace_it():
    script = _script()
    default = script.pytest_args([])
    assert default[: len(script.SUITES)] == script.SUITES
    assert "--ignore=hashinsight/tests/faults" in default
    assert script.pytest_args(["-x", "-rA"]) == [*default, "-x", "-rA"]
    assert script.pytest_args(["rules/tests", "-x"]) == ["rules/tests", "-x"]
