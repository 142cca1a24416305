"""Maintenance windows through hosting.services.maintenance: validation with error codes, scope,
audit, cancel and expire — and what the selectors then see."""

import datetime as dt

import pytest

from audit.models import AuditEvent
from control.errors import InvalidTransition
from core.errors import Forbidden, InvalidParameter
from hosting.selectors.maintenance import maintenance_occurrences
from hosting.services.maintenance import (
    maintenance_window_cancel,
    maintenance_window_create,
    maintenance_window_expire,
)

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)  # a Monday
H = dt.timedelta(hours=1)


def one_off(world, user, **kw):
    args = {"site": world.site_x, "reason": "PDU swap", "starts_at": NOW + H, "ends_at": NOW + 3 * H, "now": NOW}
    return maintenance_window_create(actor=None, user=user, **{**args, **kw})


def weekly(world, user, **kw):
    args = {
        "site": world.site_x,
        "reason": "weekly filter change",
        "starts_at": NOW,
        "weekdays": [1, 3],
        "start_time": dt.time(2, 0),
        "duration_minutes": 90,
        "timezone_name": "Europe/Oslo",
        "now": NOW,
    }
    return maintenance_window_create(actor=None, user=user, **{**args, **kw})


def test_a_one_off_window_is_created_owned_and_audited_in_the_site_chain(world, noc_x):
    w = one_off(world, noc_x)
    assert (w.owner, w.recurring, w.timezone) == (noc_x, False, "UTC")
    ev = AuditEvent.objects.get(action="hosting.maintenance.created")
    assert (ev.chain_key, ev.payload["scope"], ev.payload["reason"]) == ("site:SITE-X", "site SITE-X", "PDU swap")


def test_a_miner_window_goes_to_the_miners_tenant_chain(world, noc_x):
    w = one_off(world, noc_x, miner=world.miners_a_x[0])
    assert AuditEvent.objects.get(action="hosting.maintenance.created", entity_id=str(w.pk)).chain_key == (
        f"tenant:{world.tenant_a.pk}"
    )


def test_a_weekly_window_recurs_in_its_own_time_zone(world, noc_x):
    w = weekly(world, noc_x)
    occ = maintenance_occurrences(site=world.site_x, start=NOW, end=NOW + dt.timedelta(days=7))
    # Tuesday and Thursday 02:00 Oslo (UTC+1 in November) = 01:00 UTC, 90 minutes
    assert [(o.start, o.end) for o in occ] == [
        (dt.datetime(2026, 11, 3, 1, 0, tzinfo=dt.UTC), dt.datetime(2026, 11, 3, 2, 30, tzinfo=dt.UTC)),
        (dt.datetime(2026, 11, 5, 1, 0, tzinfo=dt.UTC), dt.datetime(2026, 11, 5, 2, 30, tzinfo=dt.UTC)),
    ]
    assert w.weekdays == [1, 3]


@pytest.mark.parametrize(
    ("kw", "field", "code"),
    [
        ({"reason": " "}, "reason", "INVALID_PARAMETER"),
        ({"starts_at": NOW - H}, "starts_at", "WINDOW_IN_THE_PAST"),
        ({"ends_at": NOW + H}, "ends_at", "INVALID_PARAMETER"),
        ({"ends_at": NOW + dt.timedelta(days=8)}, "ends_at", "INVALID_PARAMETER"),
        ({"ends_at": None}, "weekdays", "INVALID_PARAMETER"),
        ({"timezone_name": "Mars/Olympus"}, "timezone", "INVALID_PARAMETER"),
        ({"expires_at": NOW}, "expires_at", "INVALID_PARAMETER"),
        ({"ends_at": dt.datetime(2026, 11, 2, 13, 0)}, "ends_at", "INVALID_PARAMETER"),
        ({"weekdays": [1]}, "ends_at", "INVALID_PARAMETER"),
    ],
)
def test_bad_one_off_windows_are_400s_naming_the_field(world, noc_x, kw, field, code):
    with pytest.raises(InvalidParameter) as exc:
        one_off(world, noc_x, **kw)
    assert (exc.value.error_code, exc.value.extra["field"]) == (code, field)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"weekdays": [7]}, "weekdays"),
        ({"start_time": None}, "start_time"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": 20000}, "duration_minutes"),
    ],
)
def test_bad_weekly_windows_are_400s_naming_the_field(world, noc_x, kw, field):
    with pytest.raises(InvalidParameter) as exc:
        weekly(world, noc_x, **kw)
    assert exc.value.extra["field"] == field


def test_scope_must_belong_to_the_site_and_to_the_user(world, noc_x, noc_y, customer_a):
    with pytest.raises(InvalidParameter):
        one_off(world, noc_x, miner=world.miners_b_y[0])
    with pytest.raises(InvalidParameter):
        one_off(world, noc_x, zone=world.zone_x1, miner=world.miners_a_x[0])
    for outsider in (noc_y, customer_a):
        with pytest.raises(Forbidden):
            one_off(world, outsider)
    assert not AuditEvent.objects.filter(action="hosting.maintenance.created").exists()


def test_cancel_holds_the_window_until_then_and_refuses_twice(world, noc_x):
    w = one_off(world, noc_x)
    at = NOW + 2 * H
    w = maintenance_window_cancel(actor=None, user=noc_x, window=w, reason="done early", now=at)
    assert w.canceled_at == at
    occ = maintenance_occurrences(site=world.site_x, start=NOW, end=NOW + 4 * H)
    assert [(o.start, o.end) for o in occ] == [(NOW + H, at)]
    with pytest.raises(InvalidTransition):
        maintenance_window_cancel(actor=None, user=noc_x, window=w, reason="again", now=at)
    assert AuditEvent.objects.get(action="hosting.maintenance.canceled").payload["reason"] == "done early"


def test_a_window_that_is_over_cannot_be_canceled(world, noc_x):
    w = one_off(world, noc_x)
    with pytest.raises(InvalidTransition):
        maintenance_window_cancel(actor=None, user=noc_x, window=w, reason="late", now=NOW + 4 * H)


def test_expire_stops_a_weekly_window_and_refuses_one_offs(world, noc_x):
    w = weekly(world, noc_x)
    stop = dt.datetime(2026, 11, 4, 0, 0, tzinfo=dt.UTC)
    w = maintenance_window_expire(actor=None, user=noc_x, window=w, at=stop, now=NOW)
    occ = maintenance_occurrences(site=world.site_x, start=NOW, end=NOW + dt.timedelta(days=7))
    assert [o.start.day for o in occ] == [3]
    assert AuditEvent.objects.filter(action="hosting.maintenance.expired").count() == 1
    with pytest.raises(InvalidTransition):
        maintenance_window_expire(actor=None, user=noc_x, window=w, now=stop + H)
    with pytest.raises(InvalidTransition):
        maintenance_window_expire(actor=None, user=noc_x, window=one_off(world, noc_x), now=NOW)
