"""The consent policy in the admin: operators who manage a tenant's sites edit it, audited on the
tenant's chain; a NOC (no inventory rights) and customers cannot."""

import pytest

from audit.models import AuditEvent
from control.models import ConsentPolicy

URL = "/admin/control/consentpolicy/"


@pytest.mark.django_db
def test_an_ops_manager_sets_the_tenants_consent_policy_and_it_is_audited(as_user, world, ops_manager_x):
    client = as_user(ops_manager_x)
    r = client.post(
        f"{URL}add/",
        {"tenant": world.tenant_a.pk, "consent_types": "reboot,set_fan", "customer_types": "reboot"},
    )
    assert r.status_code == 302, r.content[:2000]
    policy = ConsentPolicy.objects.get(tenant=world.tenant_a)
    assert (policy.consent_types, policy.customer_types) == (["reboot", "set_fan"], ["reboot"])
    event = AuditEvent.objects.get(action="control.consentpolicy.created")
    assert event.chain_key == f"tenant:{world.tenant_a.pk}"
    r = client.post(f"{URL}{policy.pk}/change/", {"tenant": world.tenant_a.pk, "consent_types": "nonsense"})
    assert r.status_code == 200  # the form again, with the error
    policy.refresh_from_db()
    assert policy.consent_types == ["reboot", "set_fan"]


@pytest.mark.django_db
def test_a_noc_and_a_customer_cannot_edit_it(as_user, world, noc_x, customer_a):
    policy = ConsentPolicy.objects.create(tenant=world.tenant_a, consent_types=["reboot"])
    for user in (noc_x, customer_a):
        r = as_user(user).post(f"{URL}{policy.pk}/change/", {"tenant": world.tenant_a.pk, "consent_types": ""})
        assert r.status_code in (302, 403)
        policy.refresh_from_db()
        assert policy.consent_types == ["reboot"]
