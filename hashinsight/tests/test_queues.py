"""Two Celery queues (CELERY_TASK_ROUTES): evidence packs on "reports", everything else on "ingest",
and the Procfile starts one worker for each, so no task is routed to a queue nobody consumes."""

import re

from django.conf import settings

from hashinsight.celery import app
from hashinsight.tests import procs


def _queue(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def _procfile_queues() -> dict[str, set[str]]:
    out = {}
    for line in (procs.BASE_DIR / "Procfile").read_text().splitlines():
        name, _, command = line.partition(": ")
        if " worker " in command:
            match = re.search(r" -Q (\S+)", command)
            assert match, f"{name}: a worker without -Q consumes only the default queue"
            out[name] = set(match.group(1).split(","))
    return out


def test_evidence_packs_go_to_reports_and_every_other_task_to_ingest():
    app.loader.import_default_modules()
    tasks = {name for name in app.tasks if not name.startswith("celery.")}
    assert "hosting.evidence_pack_build" in tasks and "telemetry.rollup" in tasks
    routed = {name: _queue(name) for name in tasks}
    assert {n for n, q in routed.items() if q == settings.CELERY_QUEUE_REPORTS} == {"hosting.evidence_pack_build"}
    assert {n for n, q in routed.items() if q != settings.CELERY_QUEUE_REPORTS} == {
        n for n, q in routed.items() if q == settings.CELERY_QUEUE_INGEST
    }
    assert _queue("some.future_task") == settings.CELERY_TASK_DEFAULT_QUEUE == "ingest"


def test_the_procfile_runs_one_worker_per_queue():
    assert _procfile_queues() == {"worker": {"ingest"}, "worker-reports": {"reports"}}
