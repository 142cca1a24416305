from .access import OPERATOR_ROLES, Role, RoleGrant
from .aliases import SiteAlias
from .collectors import Collector, CollectorDevice, CollectorToken
from .imports import ImportCheckpoint, ImportedRow
from .inventory import Miner, MinerGroup, MinerOwnership, Site, Tenant, Zone
from .invitations import Invitation

__all__ = [
    "OPERATOR_ROLES",
    "Collector",
    "CollectorDevice",
    "CollectorToken",
    "ImportCheckpoint",
    "ImportedRow",
    "Invitation",
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
