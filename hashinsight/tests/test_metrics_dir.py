"""A management command run with `PROMETHEUS_MULTIPROC_DIR=` (set but empty, as an .env copied
from .env.example once had it) leaves no prometheus-client *.db files in its working directory."""

import subprocess

from hashinsight.tests import procs


def test_an_empty_multiproc_dir_writes_no_metric_files_where_manage_py_runs(tmp_path):
    env = procs.service_env(PROMETHEUS_MULTIPROC_DIR="")
    result = subprocess.run(
        [procs.PYTHON, str(procs.BASE_DIR / "manage.py"), "shell", "-c", "import control.metrics, rules.metrics"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
