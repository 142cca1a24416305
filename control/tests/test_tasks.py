import datetime as dt

import pytest
from django.utils import timezone

from control.models import CommandState
from control.tasks import command_proposals_expire_task

from .factories import ControlCommandFactory

pytestmark = pytest.mark.django_db


def test_the_beat_job_expires_proposals_whose_approval_window_lapsed(world):
    now = timezone.now()
    lapsed = ControlCommandFactory(
        miner=world.miners_a_x[0], state=CommandState.PROPOSED, approval_expires_at=now - dt.timedelta(seconds=1)
    )
    open_ = ControlCommandFactory(
        miner=world.miners_a_x[1], state=CommandState.PROPOSED, approval_expires_at=now + dt.timedelta(hours=1)
    )
    command_proposals_expire_task.apply()
    lapsed.refresh_from_db()
    open_.refresh_from_db()
    assert lapsed.state == CommandState.EXPIRED
    assert open_.state == CommandState.PROPOSED


def test_metrics_scrape_reports_the_age_of_the_oldest_ready_command(client, world):
    ControlCommandFactory(miner=world.miners_a_x[0], created_at=timezone.now() - dt.timedelta(seconds=90))
    body = client.get("/metrics").content.decode()
    line = next(ln for ln in body.splitlines() if ln.startswith("queue_lag_seconds"))
    assert 85 <= float(line.split()[-1]) <= 600
