from .access import OPERATOR_ROLES, Role, RoleGrant
from .aliases import SiteAlias
from .collectors import Collector, CollectorDevice, CollectorToken
from .inventory import Miner, MinerGroup, MinerOwnership, Site, Tenant, Zone

__all__ = [
    "OPERATOR_ROLES",
    "Collector",
    "CollectorDevice",
    "CollectorToken",
    "Miner",
    "MinerGroup",
    "MinerOwnership",
    "Role",
    "RoleGrant",
    "Site",
    "SiteAlias",
    "Tenant",
    "Zone",
]
from .invitations import Invitation
from .personal_tokens import PersonalToken

__all__ += ["Invitation", "PersonalToken"]
