"""Guardrails on command creation: the (site, type) rate limit holds under real concurrency, gives
back what a failed creation took, and the blast-radius cap counts a site's disrupted miners."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from audit.services import Actor
from control.errors import BlastRadiusExceeded, DedupeConflict, RateLimited
from control.models import Command, CommandState
from control.services import creation, decisions, guardrails
from control.services.guardrails import RateLimit
from tenants.models import Miner, Role
from tenants.services import role_grant_create
from tests.factories import MinerFactory, SiteFactory, TenantFactory, UserFactory


def create(user, miner, command_type="set_fan", **kw):
    kw.setdefault("params", {"speed": 50} if command_type == "set_fan" else None)
    return creation.command_create(actor=Actor.user(user), user=user, miner=miner, command_type=command_type, **kw)


def test_rate_limits_parse_from_the_setting():
    assert guardrails.parse_rate_limits("reboot=50/300, set_fan=5/60,") == {
        "reboot": RateLimit(50, 300),
        "set_fan": RateLimit(5, 60),
    }


@pytest.mark.django_db(transaction=True)
def test_exactly_the_limit_succeeds_under_200_concurrent_creations(settings):
    settings.COMMAND_RATE_LIMITS = "reboot=50/300"
    settings.COMMAND_BLAST_RADIUS_PCT = 100
    tenant, site = TenantFactory(), SiteFactory(code="SITE-RL")
    Miner.objects.bulk_create(
        [Miner(site=site, tenant=tenant, miner_id=f"rl-{i:03d}", model="S21", nominal_power_w=3500) for i in range(200)]
    )
    miners = list(Miner.objects.filter(site=site).order_by("pk"))
    noc = UserFactory(username="noc-rl")
    role_grant_create(actor=Actor.system("test.setup"), user=noc, role=Role.NOC, site=site)

    def attempt(miner):
        try:
            create(noc, miner, "reboot", reason="load test")
            return "created"
        except RateLimited:
            return "RATE_LIMITED"
        finally:
            connection.close()  # each worker thread has its own connection

    with ThreadPoolExecutor(max_workers=24) as pool:  # well under PostgreSQL's 100 connections
        outcomes = list(pool.map(attempt, miners))
    assert outcomes.count("created") == 50
    assert outcomes.count("RATE_LIMITED") == 150
    assert Command.objects.filter(site=site, command_type="reboot").count() == 50


def test_the_limit_is_per_site_and_type(world, noc_x, noc_y, settings):
    settings.COMMAND_RATE_LIMITS = "set_fan=1/300"
    create(noc_x, world.miners_a_x[0], "set_fan")
    with pytest.raises(RateLimited) as exc:
        create(noc_x, world.miners_a_x[1], "set_fan")
    assert (exc.value.status_code, exc.value.error_code) == (429, "RATE_LIMITED")
    create(noc_x, world.miners_a_x[1], "enable_hashing")  # other type: not limited
    create(noc_y, world.miners_b_y[0], "set_fan")  # other site: its own window


def test_a_failed_creation_gives_its_slot_back(world, noc_x, settings):
    settings.COMMAND_RATE_LIMITS = "set_fan=2/300"
    create(noc_x, world.miners_a_x[0], dedupe_key="k")
    with pytest.raises(DedupeConflict):
        create(noc_x, world.miners_a_x[1], dedupe_key="k")  # failed after taking a slot
    create(noc_x, world.miners_a_x[2])
    with pytest.raises(RateLimited):
        create(noc_x, world.miners_b_x[0])


def test_a_batch_takes_its_slots_all_or_nothing(world, noc_x, settings):
    settings.COMMAND_RATE_LIMITS = "set_fan=4/300"
    miners = world.miners_a_x + world.miners_b_x
    with pytest.raises(RateLimited):
        creation.command_batch_create(
            actor=Actor.user(noc_x), user=noc_x, miners=miners, command_type="set_fan", params={"speed": 1}
        )
    assert not Command.objects.exists()
    result = creation.command_batch_create(
        actor=Actor.user(noc_x), user=noc_x, miners=miners[:4], command_type="set_fan", params={"speed": 1}
    )
    assert len(result.created) == 4


def test_a_dry_run_takes_no_slot(world, noc_x, settings):
    settings.COMMAND_RATE_LIMITS = "set_fan=1/300"
    creation.command_batch_preview(user=noc_x, miners=world.miners_a_x, command_type="set_fan", params={"speed": 1})
    create(noc_x, world.miners_a_x[0])


def test_the_blast_radius_caps_disrupted_miners_per_site(world, noc_x, settings):
    settings.COMMAND_BLAST_RADIUS_PCT = 40  # 5 miners at site X → 2
    first = create(noc_x, world.miners_a_x[0], "reboot")
    create(noc_x, world.miners_a_x[1], "disable_hashing")
    with pytest.raises(BlastRadiusExceeded) as exc:
        create(noc_x, world.miners_a_x[2], "reboot")
    assert (exc.value.status_code, exc.value.extra["cap"], exc.value.extra["active"]) == (409, 2, 2)
    create(noc_x, world.miners_a_x[2], "set_fan")  # not disruptive
    second = create(noc_x, world.miners_a_x[0], "disable_hashing")  # a miner already counted
    for c in (first, second):
        decisions.command_cancel(actor=Actor.user(noc_x), user=noc_x, command=c)
    assert create(noc_x, world.miners_a_x[2], "reboot").state == CommandState.PROPOSED


def test_a_batch_over_the_blast_radius_is_refused_whole(world, noc_x):
    with pytest.raises(BlastRadiusExceeded):
        creation.command_batch_create(
            actor=Actor.user(noc_x), user=noc_x, miners=world.miners_a_x[:2], command_type="disable_hashing"
        )
    assert not Command.objects.exists()


def test_a_small_site_still_allows_one_disrupted_miner(world, noc_y):
    assert guardrails.blast_radius_cap(2) == 1
    create(noc_y, world.miners_b_y[0], "reboot")


def test_the_cap_scales_with_the_site(db):
    site = SiteFactory()
    for _ in range(10):
        MinerFactory(site=site)
    assert guardrails.blast_radius_cap(Miner.objects.filter(site=site).count()) == 2
