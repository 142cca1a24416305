"""What every hosting write shares: who acts (a person or the system), the scope check through
tenants.scoping, and the audit append in the caller's transaction."""

from audit.services import Actor, audit_record
from core.errors import Forbidden, InvalidParameter
from tenants import scoping
from tenants.models import Miner, Site, Zone
from tenants.scoping import FORBIDDEN_MESSAGE, Capability


def actor_for(actor: Actor | None, user, system_name: str) -> Actor:
    """The audit actor: the one given, else the user, else the named system job."""
    if actor is not None:
        return actor
    return Actor.user(user) if user is not None else Actor.system(system_name)


def require_operate(
    user, *, site: Site, miner: Miner | None = None, zone: Zone | None = None, capability: str = Capability.OPERATE
) -> None:
    """FORBIDDEN unless the user may act on the miner (else the zone, else the site); user=None is
    the system. The same words whether the object exists or not."""
    if user is None:
        return
    target = miner if miner is not None else (zone if zone is not None else site)
    if not scoping.can(user, capability, target):
        raise Forbidden(FORBIDDEN_MESSAGE)


def required_text(value, field: str, *, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameter(f"{field}: required", field=field)
    value = value.strip()
    if len(value) > max_length:
        raise InvalidParameter(f"{field}: at most {max_length} characters", field=field)
    return value


def audit(actor: Actor, action: str, obj, payload: dict, *, tenant_id: int | None, site_code: str) -> None:
    """One event in the owning tenant's chain (the site's when no tenant owns the object)."""
    audit_record(actor=actor, action=action, entity=obj, payload=payload, tenant_id=tenant_id, site_code=site_code)
