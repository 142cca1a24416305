"""The NOC console (Django admin): scoped rows, permission-gated actions through services, audited."""

import hashlib

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from audit.models import AuditEvent
from audit.verify import verify_chains
from tenants.models import CollectorToken, Miner, MinerOwnership, Role, RoleGrant
from tests.factories import CollectorFactory, MinerFactory, UserFactory, ZoneFactory


def changelist(model):
    return reverse(f"admin:tenants_{model}_changelist")


def change(model, pk):
    return reverse(f"admin:tenants_{model}_change", args=[pk])


# --- who gets in ---------------------------------------------------------------------------------


def test_anonymous_admin_redirects_to_the_allauth_login(client, db):
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/?next=%2Fadmin%2F"
    assert response.status_code == 200


def test_admin_login_page_hands_over_to_allauth(client, db):
    response = client.get("/admin/login/?next=/admin/tenants/miner/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Ftenants%2Fminer%2F"


def test_admin_login_never_redirects_off_site(as_user, noc_x):
    response = as_user(noc_x).get("/admin/login/?next=https://evil.example/")
    assert response["Location"] == "/admin/"


@pytest.mark.parametrize("path", ["/admin/", "/admin/tenants/miner/", "/admin/login/"])
def test_customer_cannot_reach_the_admin_at_all(as_user, customer_a, path):
    response = as_user(customer_a).get(path)
    assert response.status_code == 403


def test_operator_reaches_the_index(as_user, noc_x):
    response = as_user(noc_x).get("/admin/")
    assert response.status_code == 200
    assert b"Miners" in response.content


def test_platform_admins_are_hidden_from_operators(as_user, owner):
    client = as_user(owner)
    index = client.get("/admin/")
    assert b"/admin/auth/user/" not in index.content
    assert b"/admin/django_celery_beat/" not in index.content
    assert client.get("/admin/auth/user/").status_code == 403
    assert client.get("/admin/django_celery_beat/periodictask/").status_code == 403


def test_platform_admins_are_open_to_superusers(as_user, superuser):
    client = as_user(superuser)
    assert b"/admin/auth/user/" in client.get("/admin/").content
    assert client.get("/admin/auth/user/").status_code == 200
    assert client.get("/admin/django_celery_beat/periodictask/").status_code == 200


# --- site X vs site Y ------------------------------------------------------------------------------


def test_noc_of_site_x_lists_site_x_miners_and_not_site_y(as_user, world, noc_x):
    body = as_user(noc_x).get(changelist("miner")).content.decode()
    for miner in world.miners_a_x + world.miners_b_x:
        assert miner.miner_id in body
    for miner in world.miners_b_y:
        assert miner.miner_id not in body
    # Filter choices come from visible rows only: site Y's code appears nowhere.
    assert "SITE-Y" not in body


def test_noc_of_site_x_lists_site_x_collectors_and_tokens_only(as_user, world, noc_x):
    client = as_user(noc_x)
    collectors = client.get(changelist("collector")).content.decode()
    assert "edge-x" in collectors and "edge-y" not in collectors
    tokens = client.get(changelist("collectortoken")).content.decode()
    assert "SITE-X/edge-x" in tokens and "edge-y" not in tokens


@pytest.mark.parametrize("model", ["miner", "collector", "collectortoken", "site"])
def test_noc_of_site_x_gets_403_on_a_site_y_object(as_user, world, noc_x, model):
    obj = {
        "miner": world.miners_b_y[0],
        "collector": world.collector_y,
        "collectortoken": CollectorToken.objects.get(collector=world.collector_y),
        "site": world.site_y,
    }[model]
    client = as_user(noc_x)
    assert client.get(change(model, obj.pk)).status_code == 403
    assert client.get(reverse(f"admin:tenants_{model}_history", args=[obj.pk])).status_code == 403


def test_a_missing_object_answers_like_an_out_of_scope_one(as_user, world, noc_x):
    assert as_user(noc_x).get(change("miner", 999_999)).status_code == 403


def test_noc_sees_a_site_x_miner_read_only_with_its_ownership_history(as_user, world, noc_x):
    miner = world.miners_a_x[0]
    response = as_user(noc_x).get(change("miner", miner.pk))
    assert response.status_code == 200
    assert b'name="_save"' not in response.content
    assert b"ownerships" in response.content  # the inline, visible without Django model perms


# --- query counts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "queries"),
    [
        ("miner", 8),
        ("collector", 6),
        ("collectortoken", 6),
        ("zone", 6),
        ("site", 5),
        ("tenant", 5),
    ],
)
def test_changelist_query_count_does_not_grow_with_rows(
    as_user, world, noc_x, django_assert_num_queries, model, queries
):
    client = as_user(noc_x)
    with django_assert_num_queries(queries):
        assert client.get(changelist(model)).status_code == 200
    MinerFactory.create_batch(5, site=world.site_x, zone=world.zone_x1, tenant=world.tenant_a)
    for n in range(5):
        CollectorFactory(site=world.site_x, zone=world.zone_x1, name=f"extra-{n}")
    with django_assert_num_queries(queries):
        assert client.get(changelist(model)).status_code == 200


def test_role_grant_changelist_query_count(as_user, world, ops_manager_x, noc_x, customer_a, django_assert_num_queries):
    client = as_user(ops_manager_x)
    with django_assert_num_queries(6):
        response = client.get(reverse("admin:tenants_rolegrant_changelist"))
    assert b"noc-x" in response.content and b"cust-a" in response.content


def test_audit_event_changelist_query_count(as_user, world, noc_x, django_assert_num_queries):
    client = as_user(noc_x)
    with django_assert_num_queries(7):
        response = client.get(reverse("admin:audit_auditevent_changelist"))
    assert response.status_code == 200
    assert b"SITE-Y" not in response.content


# --- writes go through services and are audited ------------------------------------------------------


def test_adding_a_miner_writes_an_event_in_its_owners_chain(as_user, world, ops_manager_x):
    response = as_user(ops_manager_x).post(
        reverse("admin:tenants_miner_add"),
        {
            "site": world.site_x.pk,
            "zone": world.zone_x1.pk,
            "tenant": world.tenant_a.pk,
            "miner_id": "NEW_0001",
            "model": "S21",
            "nominal_hashrate_ths": "200",
            "nominal_power_w": "3500",
            "miner_key": "",
            "ownerships-TOTAL_FORMS": "0",
            "ownerships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content
    miner = Miner.objects.get(site=world.site_x, miner_id="NEW_0001")
    event = AuditEvent.objects.get(action="tenants.miner.created", entity_id=str(miner.pk))
    assert event.chain_key == f"tenant:{world.tenant_a.pk}"
    assert event.site_code == "SITE-X"
    assert MinerOwnership.objects.filter(miner=miner, tenant=world.tenant_a, valid_to__isnull=True).exists()
    assert verify_chains([event.chain_key])[0].ok


def test_changing_a_miner_records_the_changed_fields(as_user, world, ops_manager_x):
    miner = world.miners_b_x[0]
    response = as_user(ops_manager_x).post(
        change("miner", miner.pk),
        {
            "zone": world.zone_x1.pk,
            "model": "S21XP",
            "nominal_hashrate_ths": "270",
            "nominal_power_w": "3645",
            "miner_key": "",
            "ownerships-TOTAL_FORMS": "1",
            "ownerships-INITIAL_FORMS": "1",
        },
    )
    assert response.status_code == 302, response.content
    event = AuditEvent.objects.get(action="tenants.miner.updated", entity_id=str(miner.pk))
    assert event.chain_key == f"tenant:{world.tenant_b.pk}"
    assert event.payload["fields"]["model"] == "S21XP"
    assert "miner_id" not in event.payload["fields"]


def test_noc_cannot_add_or_change_inventory(as_user, world, noc_x):
    client = as_user(noc_x)
    miner = world.miners_a_x[0]
    assert client.get(reverse("admin:tenants_miner_add")).status_code == 403
    assert client.post(change("miner", miner.pk), {"model": "hacked"}).status_code == 403
    assert client.post(reverse("admin:tenants_miner_delete", args=[miner.pk]), {"post": "yes"}).status_code == 403
    miner.refresh_from_db()
    assert miner.model == "S21"


def test_ops_manager_of_site_x_cannot_change_a_site_y_miner(as_user, world, ops_manager_x):
    miner = world.miners_b_y[0]
    assert as_user(ops_manager_x).post(change("miner", miner.pk), {"model": "hacked"}).status_code == 403


# --- actions ----------------------------------------------------------------------------------------


def run_action(client, model, action, objects, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [o.pk for o in objects], "index": 0, **extra}
    return client.post(changelist(model), data, follow=True)


def test_create_token_action_shows_the_token_once_and_stores_only_its_hash(as_user, world, ops_manager_x):
    before = set(CollectorToken.objects.values_list("pk", flat=True))
    response = run_action(as_user(ops_manager_x), "collector", "create_token", [world.collector_x])
    token = CollectorToken.objects.exclude(pk__in=before).get()
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) == 1
    plaintext = shown[0].split("<code>")[1].split("</code>")[0]
    assert plaintext.startswith(token.prefix)
    assert token.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert not CollectorToken.objects.filter(token_hash=plaintext).exists()
    assert AuditEvent.objects.filter(
        action="tenants.collector_token.created", entity_id=str(token.pk), chain_key="site:SITE-X"
    ).exists()
    # Not shown again anywhere.
    assert plaintext.encode() not in as_user(ops_manager_x).get(change("collectortoken", token.pk)).content


def test_create_token_action_is_not_offered_to_noc(as_user, world, noc_x):
    client = as_user(noc_x)
    assert b"create_token" not in client.get(changelist("collector")).content
    count = CollectorToken.objects.count()
    run_action(client, "collector", "create_token", [world.collector_x])
    assert CollectorToken.objects.count() == count


def test_create_token_action_skips_collectors_of_other_sites(as_user, world, ops_manager_x, superuser):
    count = CollectorToken.objects.count()
    run_action(as_user(ops_manager_x), "collector", "create_token", [world.collector_y])
    assert CollectorToken.objects.count() == count


def test_revoke_action_revokes_and_audits(as_user, world, ops_manager_x):
    token = CollectorToken.objects.get(collector=world.collector_x)
    run_action(as_user(ops_manager_x), "collectortoken", "revoke", [token])
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert token.revoked_by == ops_manager_x
    assert (
        AuditEvent.objects.filter(
            action="tenants.collector_token.revoked", entity_id=str(token.pk), chain_key="site:SITE-X"
        ).count()
        == 1
    )


def test_revoke_action_is_refused_to_noc(as_user, world, noc_x):
    token = CollectorToken.objects.get(collector=world.collector_x)
    run_action(as_user(noc_x), "collectortoken", "revoke", [token])
    token.refresh_from_db()
    assert token.revoked_at is None


def test_assign_owner_asks_for_confirmation_first(as_user, world, ops_manager_x):
    response = run_action(as_user(ops_manager_x), "miner", "assign_owner", world.miners_a_x[:1])
    assert b"Move these miners to another owner" in response.content
    assert Miner.objects.get(pk=world.miners_a_x[0].pk).tenant == world.tenant_a


def test_assign_owner_keeps_history_and_writes_both_tenants_chains(as_user, world, ops_manager_x):
    miners = world.miners_a_x[:2]
    response = run_action(
        as_user(ops_manager_x), "miner", "assign_owner", miners, apply="Assign", tenant=world.tenant_b.pk
    )
    assert response.status_code == 200
    for miner in miners:
        miner.refresh_from_db()
        assert miner.tenant == world.tenant_b
        history = list(
            MinerOwnership.objects.filter(miner=miner).order_by("valid_from").values_list("tenant_id", "valid_to")
        )
        assert [t for t, _ in history] == [world.tenant_a.pk, world.tenant_b.pk]
        assert history[0][1] is not None and history[1][1] is None
        chains = set(
            AuditEvent.objects.filter(action="tenants.miner.owner_changed", entity_id=str(miner.pk)).values_list(
                "chain_key", flat=True
            )
        )
        assert chains == {f"tenant:{world.tenant_a.pk}", f"tenant:{world.tenant_b.pk}"}
    assert all(r.ok for r in verify_chains([f"tenant:{world.tenant_a.pk}", f"tenant:{world.tenant_b.pk}"]))


def test_assign_owner_is_refused_to_noc(as_user, world, noc_x):
    miner = world.miners_a_x[0]
    run_action(as_user(noc_x), "miner", "assign_owner", [miner], apply="Assign", tenant=world.tenant_b.pk)
    miner.refresh_from_db()
    assert miner.tenant == world.tenant_a
    assert MinerOwnership.objects.filter(miner=miner).count() == 1


# --- grants -----------------------------------------------------------------------------------------


def add_grant(client, user, **scope):
    data = {"user": user.pk, "role": Role.NOC, "site": "", "zone": "", "tenant": "", **scope}
    return client.post(reverse("admin:tenants_rolegrant_add"), data)


def _user_of_site_x(world):
    """A person of site X already (the grant admin's user picker lists only the manager's own users)."""
    from conftest import grant

    return grant(UserFactory(username="newcomer"), Role.TECHNICIAN, zone=world.zone_x1)


def test_ops_manager_grants_a_role_at_their_site(as_user, world, ops_manager_x):
    newcomer = _user_of_site_x(world)
    response = add_grant(as_user(ops_manager_x), newcomer, site=world.site_x.pk)
    assert response.status_code == 302, response.content
    grant = RoleGrant.objects.get(user=newcomer, role=Role.NOC)
    assert (grant.role, grant.site, grant.granted_by) == (Role.NOC, world.site_x, ops_manager_x)
    assert AuditEvent.objects.filter(
        action="tenants.role_grant.created", entity_id=str(grant.pk), chain_key="site:SITE-X"
    ).exists()


@pytest.mark.parametrize("scope", ["all_sites", "other_site", "zone_of_other_site"])
def test_ops_manager_cannot_grant_beyond_their_own_scope(as_user, world, ops_manager_x, scope):
    newcomer = _user_of_site_x(world)
    data = {
        "all_sites": {"role": Role.OWNER, "all_sites": "on"},
        "other_site": {"site": world.site_y.pk},
        "zone_of_other_site": {"site": world.site_y.pk, "zone": ZoneFactory(site=world.site_y, code="Y1").pk},
    }[scope]
    response = add_grant(as_user(ops_manager_x), newcomer, **data)
    assert response.status_code == 200  # the form again, with an error
    assert not RoleGrant.objects.filter(user=newcomer).exclude(role=Role.TECHNICIAN).exists()


def test_ops_manager_cannot_pick_a_user_of_no_site_of_theirs(as_user, world, ops_manager_x, noc_y):
    """Someone without a grant they see (a stranger, site Y's NOC) is not in the picker: invite them instead."""
    for user in (UserFactory(username="stranger"), noc_y):
        response = add_grant(as_user(ops_manager_x), user, site=world.site_x.pk)
        assert response.status_code == 200
        assert "Select a valid choice" in response.content.decode()
        assert not RoleGrant.objects.filter(user=user, site=world.site_x).exists()


def test_ops_manager_revokes_a_grant_at_their_site(as_user, world, ops_manager_x, noc_x):
    grant = RoleGrant.objects.get(user=noc_x)
    response = as_user(ops_manager_x).post(reverse("admin:tenants_rolegrant_delete", args=[grant.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not RoleGrant.objects.filter(pk=grant.pk).exists()
    assert AuditEvent.objects.filter(action="tenants.role_grant.revoked", entity_id=str(grant.pk)).exists()


def test_ops_manager_of_site_x_cannot_see_or_revoke_site_y_grants(as_user, world, ops_manager_x, noc_y):
    grant = RoleGrant.objects.get(user=noc_y)
    client = as_user(ops_manager_x)
    assert b"noc-y" not in client.get(reverse("admin:tenants_rolegrant_changelist")).content
    assert client.post(reverse("admin:tenants_rolegrant_delete", args=[grant.pk]), {"post": "yes"}).status_code == 403
    assert RoleGrant.objects.filter(pk=grant.pk).exists()


def test_noc_cannot_manage_grants(as_user, world, noc_x):
    client = as_user(noc_x)
    assert client.get(reverse("admin:tenants_rolegrant_changelist")).status_code == 403
    assert add_grant(client, UserFactory(), site=world.site_x.pk).status_code == 403


def test_audit_events_filter_by_entity_and_action_area(as_user, world, noc_x):
    client = as_user(noc_x)
    url = reverse("admin:audit_auditevent_changelist")
    by_entity = client.get(url, {"entity_type": "tenants.collectortoken"}).content.decode()
    assert "tenants.collector_token.created" in by_entity  # world's token for site X
    assert "tenants.zone.created" not in by_entity
    by_area = client.get(url, {"action_area": "control."}).content.decode()
    assert "tenants.collector_token.created" not in by_area
