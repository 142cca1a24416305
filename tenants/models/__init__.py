from .access import OPERATOR_ROLES, Role, RoleGrant
from .aliases import SiteAlias
from .collectors import Collector, CollectorDevice, CollectorToken
from .edge import CollectorCertificate, SiteEdgeSecurity
from .imports import ImportCheckpoint, ImportedRow
from .inventory import Miner, MinerGroup, MinerOwnership, Site, Tenant, Zone
from .invitations import Invitation
from .object_grants import ZONE_GRANT_ROLES, ObjectGrant
from .personal_tokens import PersonalToken

__all__ = [
    "OPERATOR_ROLES",
    "ZONE_GRANT_ROLES",
    "ObjectGrant",
    "PersonalToken",
    "Collector",
    "CollectorCertificate",
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
    "SiteEdgeSecurity",
    "Tenant",
    "Zone",
]
