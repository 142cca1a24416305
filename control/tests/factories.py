"""Commands for tests, made straight in the state a test needs (the operator-side services
create them for real). Shared by the control app's tests."""

import datetime as dt

import factory
from django.utils import timezone

from audit.services import Actor
from control.models import Command, CommandState, CommandType


class ControlCommandFactory(factory.django.DjangoModelFactory):
    """A ready command (`queued`) for `miner`, at the miner's site and zone and for its owner."""

    class Meta:
        model = Command

    miner = None  # required
    tenant = factory.LazyAttribute(lambda o: o.miner.tenant)
    site = factory.LazyAttribute(lambda o: o.miner.site)
    zone = factory.LazyAttribute(lambda o: o.miner.zone)
    command_type = CommandType.DISABLE_HASHING
    params = factory.LazyFunction(dict)
    state = CommandState.QUEUED
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.LazyAttribute(lambda o: o.created_at)
    ttl_sec = 600
    expires_at = factory.LazyAttribute(lambda o: o.created_at + dt.timedelta(seconds=o.ttl_sec))
    created_by_system = "test"
    reason = "test"


def operator_command(user, miner, command_type="set_fan", **kw):
    """A command as `user` creates it through the operator service (guardrails, approval, audit);
    set_fan at 60 % unless `params` says otherwise."""
    from control.services import creation

    kw.setdefault("params", {"speed": 60} if command_type == "set_fan" else None)
    return creation.command_create(actor=Actor.user(user), user=user, miner=miner, command_type=command_type, **kw)


def principal_for(collector, device_id: str = "dev-1"):
    """What CollectorTokenAuthentication puts in request.user, for service-level tests."""
    from tenants.collector_auth import CollectorPrincipal

    return CollectorPrincipal(
        token=collector.tokens.select_related("collector__site", "collector__zone").first(), device_id=device_id
    )


def collector_headers(token: str, site_code: str, device_id: str = "dev-1") -> dict:
    """The headers the field collector sends on poll and ACK (COLLECTOR_PROTOCOL §3)."""
    return {
        "HTTP_X_COLLECTOR_KEY": token,
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "HTTP_X_SITE_ID": site_code,
        "HTTP_X_DEVICE_ID": device_id,
        "HTTP_X_EDGE_ID": device_id,
    }
