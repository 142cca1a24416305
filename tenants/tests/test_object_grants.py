"""Object grants (docs/SECURITY.md "Object grants"): a customer limited to miner groups, a
contractor technician on one zone for a week; expiry checked at read time, the beat job marks
them expired, revocation is immediate; audited; mirrored into django-guardian; personal tokens
follow them; the grant admins' user pickers list only the manager's own users; a zone-scoped
operator's audit list holds only the events of their zone."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from guardian.models import UserObjectPermission

from audit.models import AuditEvent
from audit.services import Actor, audit_record
from core.errors import Forbidden, InvalidParameter
from tenants import scoping
from tenants.models import MinerGroup, ObjectGrant, Role
from tenants.object_grants import object_grant_create, object_grant_revoke, object_grants_expire
from tenants.personal_tokens import personal_token_create
from tenants.scoping import Capability
from tests.factories import UserFactory, ZoneFactory

SETUP = Actor.system("test")
WEEK = dt.timedelta(days=7)


def pks(qs):
    return set(qs.values_list("pk", flat=True))


@pytest.fixture
def group_x(world):
    """Two of tenant A's miners at site X and one of tenant B's, in one group."""
    group = MinerGroup.objects.create(site=world.site_x, name="row-7")
    group.miners.set([*world.miners_a_x[:2], world.miners_b_x[0]])
    return group


@pytest.fixture
def group_customer(world, group_x, ops_manager_x):
    user = UserFactory(username="cust-a-row7")
    object_grant_create(
        actor=SETUP, granted_by=ops_manager_x, user=user, role=Role.CUSTOMER, miner_group=group_x, tenant=world.tenant_a
    )
    return user


@pytest.fixture
def contractor(world, ops_manager_x):
    user = UserFactory(username="contractor")
    grant = object_grant_create(
        actor=SETUP,
        granted_by=ops_manager_x,
        user=user,
        role=Role.TECHNICIAN,
        zone=world.zone_x1,
        expires_at=timezone.now() + WEEK,
        reason="cooling retrofit",
    )
    user.grant = grant
    return user


def fresh(user):
    """The same user without the per-request scope cache (the next request)."""
    return type(user).objects.get(pk=user.pk)


# --- the group-limited customer ----------------------------------------------------------------------


def test_a_group_customer_sees_only_their_tenants_miners_of_the_group(world, group_customer):
    scope = scoping.scope_for(group_customer)
    assert scope.is_customer and not scope.is_operator and not scope.customer_tenant_ids
    assert pks(scoping.miners_for(group_customer)) == {m.pk for m in world.miners_a_x[:2]}
    assert pks(scoping.sites_for(group_customer)) == {world.site_x.pk}
    assert pks(scoping.zones_for(group_customer)) == {world.zone_x1.pk}
    assert pks(scoping.tenants_for(group_customer)) == {world.tenant_a.pk}
    assert not scoping.miners_for(group_customer, Capability.OPERATE).exists()
    assert not scoping.collectors_for(group_customer).exists()
    assert not scoping.audit_events_for(group_customer).exists()


def test_a_group_customers_api_and_portal_show_the_group_only(world, group_customer):
    client = Client()
    client.force_login(group_customer)
    body = client.get("/api/v1/portal/my-miners").json()
    assert body["customer_id"] == "tenant-a"
    assert sorted(m["miner_id"] for m in body["miners"]) == sorted(m.miner_id for m in world.miners_a_x[:2])
    legacy = client.get("/api/client/miners").json()
    assert legacy["stats"]["total"] == 2
    assert client.get("/api/client/miners?tenant=tenant-b").status_code == 403
    page = client.get("/portal/t/tenant-a/miners/")
    assert page.status_code == 200
    html = page.content.decode()
    assert world.miners_a_x[0].miner_id in html and world.miners_a_x[1].miner_id in html
    assert world.miners_a_x[2].miner_id not in html and world.miners_b_x[0].miner_id not in html
    assert client.get("/portal/t/tenant-b/").status_code == 403


def test_a_miner_leaving_the_group_leaves_the_customers_view(world, group_x, group_customer):
    group_x.miners.remove(world.miners_a_x[0])
    assert pks(scoping.miners_for(fresh(group_customer))) == {world.miners_a_x[1].pk}


def test_a_whole_tenant_grant_beside_a_group_grant_sees_the_whole_tenant(world, group_x, group_customer):
    from conftest import grant

    grant(group_customer, Role.CUSTOMER, tenant=world.tenant_a)
    assert pks(scoping.miners_for(fresh(group_customer))) == {m.pk for m in world.miners_a_x}


# --- the contractor on one zone for a week ---------------------------------------------------------------


def test_a_zone_contractor_sees_and_operates_that_zone_only(world, contractor):
    zone_miners = {m.pk for m in world.miners_a_x}
    assert pks(scoping.miners_for(contractor)) == zone_miners
    assert pks(scoping.miners_for(contractor, Capability.OPERATE)) == zone_miners
    assert not scoping.miners_for(contractor, Capability.APPROVE).exists()
    assert pks(scoping.zones_for(contractor)) == {world.zone_x1.pk}
    assert not scoping.miners_for(contractor).filter(site=world.site_y).exists()


def test_the_scope_is_one_query_however_many_grants(world, contractor, group_x, ops_manager_x):
    from conftest import grant

    grant(contractor, Role.CUSTOMER, tenant=world.tenant_b)
    object_grant_create(
        actor=SETUP, granted_by=None, user=contractor, role=Role.CUSTOMER, miner_group=group_x, tenant=world.tenant_a
    )
    user = fresh(contractor)
    with CaptureQueriesContext(connection) as queries:
        scoping.scope_for(user)
    assert len(queries) == 1
    assert "UNION ALL" in queries[0]["sql"]


def test_an_expired_grant_stops_at_read_time_before_the_beat_job(world, contractor):
    with time_machine.travel(timezone.now() + WEEK + dt.timedelta(seconds=1)):
        assert not scoping.miners_for(fresh(contractor)).exists()
        assert not scoping.scope_for(fresh(contractor)).is_operator
        assert ObjectGrant.objects.get(pk=contractor.grant.pk).expired_at is None  # the job has not run


def test_the_beat_job_marks_expired_grants_audits_and_clears_the_guardian_mirror(world, contractor):
    assert fresh(contractor).has_perm("tenants.view_zone", world.zone_x1)
    assert object_grants_expire(now=timezone.now() + dt.timedelta(days=6)) == 0
    later = timezone.now() + WEEK + dt.timedelta(minutes=1)
    assert object_grants_expire(now=later) == 1
    grant = ObjectGrant.objects.get(pk=contractor.grant.pk)
    assert grant.expired_at == later and grant.state == "expired"
    event = AuditEvent.objects.get(action="tenants.object_grant.expired")
    assert event.actor_type == "system" and event.site_code == "SITE-X"
    assert event.payload["user"] == "contractor" and event.payload["zone"] == "SITE-X/X1"
    assert not fresh(contractor).has_perm("tenants.view_zone", world.zone_x1)
    assert object_grants_expire(now=later) == 0  # once


def test_revocation_is_immediate_audited_and_idempotent(world, contractor, ops_manager_x):
    assert UserObjectPermission.objects.filter(user=contractor).count() == 1
    object_grant_revoke(actor=Actor.user(ops_manager_x), grant=contractor.grant, revoked_by=ops_manager_x)
    assert not scoping.miners_for(fresh(contractor)).exists()
    assert not UserObjectPermission.objects.filter(user=contractor).exists()
    object_grant_revoke(actor=Actor.user(ops_manager_x), grant=contractor.grant, revoked_by=ops_manager_x)
    assert AuditEvent.objects.filter(action="tenants.object_grant.revoked").count() == 1
    created = AuditEvent.objects.get(action="tenants.object_grant.created", payload__user="contractor")
    assert created.payload["reason"] == "cooling retrofit"


def test_the_guardian_row_stays_while_another_live_grant_covers_the_object(world, contractor):
    second = object_grant_create(actor=SETUP, granted_by=None, user=contractor, role=Role.NOC, zone=world.zone_x1)
    object_grant_revoke(actor=SETUP, grant=contractor.grant)
    assert fresh(contractor).has_perm("tenants.view_zone", world.zone_x1)
    object_grant_revoke(actor=SETUP, grant=second)
    assert not fresh(contractor).has_perm("tenants.view_zone", world.zone_x1)


# --- who may grant what ----------------------------------------------------------------------------------


def test_a_site_manager_grants_only_inside_their_site(world, ops_manager_x, noc_y):
    zone_y = ZoneFactory(site=world.site_y, code="Y1")
    with pytest.raises(Forbidden):
        object_grant_create(actor=SETUP, granted_by=ops_manager_x, user=noc_y, role=Role.TECHNICIAN, zone=zone_y)
    group_y = MinerGroup.objects.create(site=world.site_y, name="g")
    with pytest.raises(Forbidden):
        object_grant_create(
            actor=SETUP,
            granted_by=ops_manager_x,
            user=noc_y,
            role=Role.CUSTOMER,
            miner_group=group_y,
            tenant=world.tenant_b,
        )
    assert not ObjectGrant.objects.exists()


@pytest.mark.parametrize(
    "shape",
    [
        {"role": Role.OWNER, "zone": "zone"},
        {"role": Role.OPS_MANAGER, "zone": "zone"},
        {"role": Role.CUSTOMER, "zone": "zone"},
        {"role": Role.TECHNICIAN, "miner_group": "group", "tenant": "tenant"},
        {"role": Role.CUSTOMER, "miner_group": "group"},
    ],
)
def test_a_wrong_shape_is_refused(world, group_x, shape):
    objects = {"zone": world.zone_x1, "group": group_x, "tenant": world.tenant_a}
    kwargs = {k: (objects[v] if k != "role" else v) for k, v in shape.items()}
    with pytest.raises(InvalidParameter) as exc:
        object_grant_create(actor=SETUP, granted_by=None, user=UserFactory(), **kwargs)
    assert exc.value.error_code == "INVALID_GRANT"


def test_an_expiry_in_the_past_is_refused(world):
    with pytest.raises(InvalidParameter) as exc:
        object_grant_create(
            actor=SETUP,
            granted_by=None,
            user=UserFactory(),
            role=Role.TECHNICIAN,
            zone=world.zone_x1,
            expires_at=timezone.now() - dt.timedelta(seconds=1),
        )
    assert exc.value.error_code == "INVALID_EXPIRY"


# --- personal tokens follow the grant ---------------------------------------------------------------------


def test_a_contractors_token_stops_the_moment_the_grant_goes(world, contractor):
    _, plaintext = personal_token_create(actor=SETUP, user=contractor, name="script", expires_in_days=30)
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    url = "/api/collector/live/SITE-X"
    assert client.get(url, **auth).status_code == 200
    object_grant_revoke(actor=SETUP, grant=contractor.grant)
    assert client.get(url, **auth).status_code == 403


def test_a_contractors_token_stops_when_the_grant_expires(world, contractor):
    _, plaintext = personal_token_create(actor=SETUP, user=contractor, name="script", expires_in_days=30)
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    assert client.get("/api/collector/live/SITE-X", **auth).status_code == 200
    with time_machine.travel(timezone.now() + WEEK + dt.timedelta(seconds=1)):
        assert client.get("/api/collector/live/SITE-X", **auth).status_code == 403


def test_a_group_customers_token_sees_the_group_then_nothing(world, group_customer, ops_manager_x):
    _, plaintext = personal_token_create(actor=SETUP, user=group_customer, name="script", expires_in_days=30)
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    assert client.get("/api/client/miners", **auth).json()["stats"]["total"] == 2
    object_grant_revoke(actor=SETUP, grant=ObjectGrant.objects.get(user=group_customer))
    after = client.get("/api/client/miners", **auth)
    assert after.status_code == 403 or after.json()["stats"]["total"] == 0
    assert client.get("/api/v1/portal/my-miners", **auth).status_code == 403


# --- audit events by zone ---------------------------------------------------------------------------------


@pytest.fixture
def site_x_events(world):
    in_zone = audit_record(actor=SETUP, action="t.in_zone", entity=world.miners_a_x[0], site_code="SITE-X")
    the_zone = audit_record(actor=SETUP, action="t.zone", entity=world.zone_x1, site_code="SITE-X")
    outside = audit_record(actor=SETUP, action="t.outside", entity=world.miners_b_x[0], site_code="SITE-X")
    site_wide = audit_record(actor=SETUP, action="t.site", entity=world.site_x, site_code="SITE-X")
    return in_zone, the_zone, outside, site_wide


def test_a_zone_contractor_sees_only_their_zones_audit_events(world, contractor, noc_x, site_x_events):
    in_zone, the_zone, outside, site_wide = site_x_events
    client = Client()
    client.force_login(contractor)
    body = client.get("/api/admin/v1/audit", {"limit": 1000}).json()
    rows = body["results"] if isinstance(body, dict) else body
    seen = {r["id"] for r in rows}
    assert {in_zone.pk, the_zone.pk} <= seen
    assert not {outside.pk, site_wide.pk} & seen
    assert {outside.pk, site_wide.pk} <= pks(scoping.audit_events_for(noc_x))


def test_a_zone_role_grant_is_limited_the_same_way(world, site_x_events):
    from conftest import grant

    tech = grant(UserFactory(username="tech-z"), Role.TECHNICIAN, zone=world.zone_x1)
    in_zone, the_zone, outside, site_wide = site_x_events
    assert pks(scoping.audit_events_for(tech)) == {in_zone.pk, the_zone.pk}


def test_the_audit_admin_of_a_zone_contractor_lists_their_zone_only(world, contractor, site_x_events):
    in_zone, the_zone, outside, site_wide = site_x_events
    client = Client()
    client.force_login(contractor)
    page = client.get(reverse("admin:audit_auditevent_changelist"))
    assert page.status_code == 200
    listed = pks(page.context["cl"].queryset)
    assert {in_zone.pk, the_zone.pk} <= listed and not {outside.pk, site_wide.pk} & listed
    assert client.get(reverse("admin:audit_auditevent_change", args=[outside.pk])).status_code == 403
    assert client.get(reverse("admin:audit_auditevent_change", args=[in_zone.pk])).status_code == 200


# --- the admins' user pickers ------------------------------------------------------------------------------


def _picker(client, model):
    page = client.get(reverse(f"admin:tenants_{model}_add"))
    assert page.status_code == 200
    return page.context["adminform"].form.fields["user"].queryset


@pytest.mark.parametrize("model", ["objectgrant", "rolegrant"])
def test_a_site_managers_user_picker_lists_only_their_own_users(world, ops_manager_x, noc_x, noc_y, customer_a, model):
    customer_c_only = UserFactory(username="stranger")
    client = Client()
    client.force_login(ops_manager_x)
    users = set(_picker(client, model).values_list("username", flat=True))
    assert {"noc-x", "cust-a", "opsmgr-x"} <= users
    assert not {"noc-y", "stranger"} & users
    assert customer_c_only.username not in users


def test_an_owners_user_picker_lists_everyone_active(world, owner, noc_y):
    client = Client()
    client.force_login(owner)
    assert "noc-y" in set(_picker(client, "objectgrant").values_list("username", flat=True))


def test_the_grant_admin_creates_and_revokes_through_the_services(world, ops_manager_x, noc_x):
    client = Client()
    client.force_login(ops_manager_x)
    expires = (timezone.now() + WEEK).strftime("%Y-%m-%d")
    response = client.post(
        reverse("admin:tenants_objectgrant_add"),
        {
            "user": noc_x.pk,
            "role": Role.TECHNICIAN,
            "zone": world.zone_x1.pk,
            "expires_at_0": expires,
            "expires_at_1": "12:00:00",
            "reason": "week",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    grant = ObjectGrant.objects.get(user=noc_x)
    assert AuditEvent.objects.filter(action="tenants.object_grant.created", entity_id=str(grant.pk)).exists()
    response = client.post(
        reverse("admin:tenants_objectgrant_changelist"), {"action": "revoke", "_selected_action": [grant.pk]}
    )
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.revoked_at is not None and grant.revoked_by == ops_manager_x


def test_the_grant_admin_refuses_a_zone_outside_the_managers_site(world, ops_manager_x, noc_x):
    zone_y = ZoneFactory(site=world.site_y, code="Y9")
    client = Client()
    client.force_login(ops_manager_x)
    response = client.post(
        reverse("admin:tenants_objectgrant_add"), {"user": noc_x.pk, "role": Role.TECHNICIAN, "zone": zone_y.pk}
    )
    assert response.status_code == 200  # the form again, with the error
    assert not ObjectGrant.objects.exists()


def test_a_grant_manager_lists_only_object_grants_of_their_site(world, ops_manager_x, contractor, noc_y):
    zone_y = ZoneFactory(site=world.site_y, code="Y2")
    other = object_grant_create(actor=SETUP, granted_by=None, user=noc_y, role=Role.TECHNICIAN, zone=zone_y)
    assert pks(scoping.object_grants_for(ops_manager_x)) == {contractor.grant.pk}
    assert not scoping.can(ops_manager_x, Capability.MANAGE_GRANTS, other)
    assert not scoping.object_grants_for(noc_y).exists()


def test_a_group_customers_telemetry_and_summaries_show_the_group_only(world, group_customer):
    client = Client()
    client.force_login(group_customer)
    live = client.get("/api/v1/telemetry/live", {"site_id": "SITE-X"})
    assert live.status_code == 200
    text = live.content.decode()
    assert world.miners_a_x[0].miner_id in text and world.miners_a_x[1].miner_id in text
    for foreign in (world.miners_a_x[2], world.miners_b_x[0], world.miners_b_x[1]):
        assert foreign.miner_id not in text
    sites = client.get("/api/sites").content.decode()
    assert "SITE-X" in sites and "SITE-Y" not in sites
    for page in ("downtime", "reports", "events", "work-orders"):
        response = client.get(f"/portal/t/tenant-a/{page}/")
        assert response.status_code == 200, page
        html = response.content.decode()
        assert all(m.miner_id not in html for m in (world.miners_a_x[2], *world.miners_b_x)), page
    # Evidence packs are tenant-wide: a group-limited customer gets none (fail closed).
    assert client.get("/portal/t/tenant-a/evidence/").status_code in (200, 403)


def test_the_beat_task_runs_the_expiry(world, contractor, settings):
    from tenants.tasks import object_grants_expire_task

    assert "tenants.object_grants_expire" in settings.CELERY_BEAT_SCHEDULE
    with time_machine.travel(timezone.now() + WEEK + dt.timedelta(minutes=1)):
        assert object_grants_expire_task() == 1
    assert ObjectGrant.objects.get(pk=contractor.grant.pk).state == "expired"


def test_the_grant_admin_refuses_an_expiry_in_the_past(world, ops_manager_x, noc_x):
    client = Client()
    client.force_login(ops_manager_x)
    response = client.post(
        reverse("admin:tenants_objectgrant_add"),
        {
            "user": noc_x.pk,
            "role": Role.TECHNICIAN,
            "zone": world.zone_x1.pk,
            "expires_at_0": (timezone.now() - WEEK).strftime("%Y-%m-%d"),
            "expires_at_1": "12:00:00",
        },
    )
    assert response.status_code == 200
    assert "The expiry is in the past." in response.content.decode()
    assert not ObjectGrant.objects.exists()
