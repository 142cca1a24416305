"""Tenant isolation, checked from the outside (SPEC §2, "One rule for denial").

Every URL route of the project is called over real HTTP by people who must not get in: a customer
of tenant A asking for tenant B's objects, a NOC operator of site X asking for site Y's, anonymous
callers, and a collector of site Y presenting its token for site X. Each route needs a *case* in
CASES saying which object fills its parameters and what each persona must get; a route without one
is itself a failure, so every endpoint added later is checked too.

Used by `manage.py verify_tenant_isolation`; the tests call the same functions.
"""

from verification.isolation.cases import CASES, case_for, routes_without_case
from verification.isolation.expect import ApiDenied
from verification.isolation.probes import CUSTOMER_A_ON_B, Case, Probe
from verification.isolation.routes import route_list
from verification.isolation.runner import isolation_verify
from verification.isolation.world import MISSING_ID, world_ensure

__all__ = [
    "CASES",
    "CUSTOMER_A_ON_B",
    "MISSING_ID",
    "ApiDenied",
    "Case",
    "Probe",
    "case_for",
    "isolation_verify",
    "route_list",
    "routes_without_case",
    "world_ensure",
]
