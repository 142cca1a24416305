"""Rules and their hits as the caller may see them (operators, by site scope)."""

from django.db.models import QuerySet

from rules.models import Rule, RuleHit
from tenants import scoping


def rules_for(user, capability: str = scoping.Capability.VIEW) -> QuerySet[Rule]:
    return Rule.objects.filter(site__in=scoping.sites_for(user, capability)).select_related(
        "site", "zone", "group", "tenant"
    )


def rule_hits_for(user, capability: str = scoping.Capability.VIEW) -> QuerySet[RuleHit]:
    return RuleHit.objects.filter(rule__site__in=scoping.sites_for(user, capability)).select_related(
        "rule__site", "miner", "tenant"
    )
