"""core.devcluster.exit_on_signals: a process that made a scratch cluster (a bench's `--own-cluster`)
and is sent TERM stops the postmaster and removes the cluster's directory on its way out, as on
Ctrl-C or a normal exit, while a forked child's exit leaves its parent's cluster alone."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Makes a cluster, has a forked child exit normally (its atexit must not destroy the parent's
# cluster), says where the cluster is, then waits to be signalled.
SCRIPT = """
import json, os, sys, time
from core import devcluster
devcluster.exit_on_signals()
cluster = devcluster.PgCluster({}, prefix="hi-signal-test-")
child = os.fork()
if child == 0:
    sys.exit(0)
os.waitpid(child, 0)
postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
print(json.dumps({"dir": str(cluster.dir), "postmaster": postmaster}), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signalled_process_stops_its_cluster_and_removes_its_directory(signum):
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    made = None
    out, err = proc.stdout, proc.stderr
    assert out is not None and err is not None
    try:
        line = out.readline()
        assert line, err.read()
        made = json.loads(line)
        cluster_dir, postmaster = Path(made["dir"]), made["postmaster"]
        assert cluster_dir.is_dir() and _alive(postmaster)  # the child's exit left it up
        proc.send_signal(signum)
        assert proc.wait(timeout=60) == 128 + signum, err.read()
        deadline = time.monotonic() + 30
        while _alive(postmaster) and time.monotonic() < deadline:
            time.sleep(0.1)  # pg_ctl -w has waited for it; reaping by init may lag a moment
        assert not _alive(postmaster), "the postmaster outlived the process that made it"
        assert not cluster_dir.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if made:  # the test failed: leave nothing running or on disk
            if _alive(made["postmaster"]):
                os.kill(made["postmaster"], signal.SIGQUIT)
            shutil.rmtree(made["dir"], ignore_errors=True)
