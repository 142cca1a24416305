"""Operator rule API (SPEC §7, §11): /api/admin/v1/rules (list, create), /api/admin/v1/rules/<id>
(read, PATCH = a new version), /api/admin/v1/rules/<id>/hits and /api/admin/v1/rule_hits.

Names in, ids inside: a request names the site by code, the zone by code, the group by name, the
tenant by slug and miners by miner_id, resolved inside the caller's scope (anything else 403).
Everything else is validated by rules.services.definitions (400 INVALID_RULE naming the field)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from core.api.pagination import PAGE_PARAMETERS, PageSchema, filter_by, paginated
from core.errors import Forbidden
from rules.errors import InvalidRule
from rules.models import Rule
from rules.selectors import rule_hits_for, rules_for
from rules.services.definitions import EDITABLE, rule_create, rule_update
from tenants import scoping
from tenants.permissions import IsOperator

_REFERENCES = ("zone", "group", "tenant", "miners", "excluded_miners")  # names in the request, ids in the rule
_PLAIN = tuple(name for name in EDITABLE if name not in _REFERENCES)


class RuleIn(serializers.Serializer):
    site_id = serializers.CharField(required=False, help_text="site code (create only)")
    name = serializers.CharField(required=False, max_length=200)
    enabled = serializers.BooleanField(required=False)
    zone = serializers.CharField(required=False, allow_null=True, help_text="zone code")
    group = serializers.CharField(required=False, allow_null=True, help_text="miner group name")
    tenant = serializers.CharField(required=False, allow_null=True, help_text="tenant slug: only its miners")
    miners = serializers.ListField(child=serializers.CharField(), required=False, help_text="miner_id values")
    excluded_miners = serializers.ListField(child=serializers.CharField(), required=False)
    metric = serializers.CharField(required=False)
    op = serializers.CharField(required=False)
    threshold = serializers.FloatField(required=False)
    clear_threshold = serializers.FloatField(required=False, allow_null=True)
    consecutive_samples = serializers.IntegerField(required=False)
    min_duration_sec = serializers.IntegerField(required=False)
    stale_sec = serializers.IntegerField(required=False)
    cooldown_sec = serializers.IntegerField(required=False)
    daily_cap = serializers.IntegerField(required=False)
    command_type = serializers.CharField(required=False, allow_blank=True)
    params = serializers.DictField(required=False)
    recovery_command_type = serializers.CharField(required=False, allow_blank=True)
    recovery_params = serializers.DictField(required=False)
    priority_class = serializers.IntegerField(required=False)
    approval_required = serializers.BooleanField(required=False)


class RuleCreateIn(RuleIn):
    """RuleIn on create (the schema of POST): the site is required there, not on PATCH."""

    site_id = serializers.CharField(help_text="site code")


class RuleOut(serializers.Serializer):
    id = serializers.IntegerField()
    site_id = serializers.CharField(source="site.code")
    name = serializers.CharField()
    enabled = serializers.BooleanField()
    version = serializers.IntegerField()
    zone = serializers.CharField(source="zone.code", allow_null=True, default=None)
    group = serializers.CharField(source="group.name", allow_null=True, default=None)
    tenant = serializers.CharField(source="tenant.slug", allow_null=True, default=None)
    miners = serializers.ListField(child=serializers.IntegerField())
    excluded_miners = serializers.ListField(child=serializers.IntegerField())
    metric = serializers.CharField()
    op = serializers.CharField()
    threshold = serializers.FloatField()
    clear_threshold = serializers.FloatField(allow_null=True)
    consecutive_samples = serializers.IntegerField()
    min_duration_sec = serializers.IntegerField()
    stale_sec = serializers.IntegerField()
    cooldown_sec = serializers.IntegerField()
    daily_cap = serializers.IntegerField()
    command_type = serializers.CharField()
    params = serializers.DictField()
    recovery_command_type = serializers.CharField()
    recovery_params = serializers.DictField()
    priority_class = serializers.IntegerField()
    approval_required = serializers.BooleanField()
    thermal_level = serializers.CharField(help_text="warning/throttle/critical: kept by the legacy thermal config")
    updated_at = serializers.DateTimeField()


class RuleHitOut(serializers.Serializer):
    id = serializers.IntegerField()
    rule_id = serializers.IntegerField()
    version = serializers.IntegerField()
    site_id = serializers.CharField(source="rule.site.code")
    miner_id = serializers.CharField(source="miner.miner_id")
    tenant = serializers.CharField(source="tenant.slug")
    kind = serializers.CharField()
    at = serializers.DateTimeField()
    value = serializers.FloatField(allow_null=True)
    threshold = serializers.FloatField()
    command_id = serializers.IntegerField(allow_null=True)
    evidence = serializers.DictField()


class HitFilterIn(serializers.Serializer):
    site_id = serializers.CharField(required=False)
    miner_id = serializers.CharField(required=False)
    kind = serializers.CharField(required=False)
    rule_id = serializers.IntegerField(required=False)


def validated(serializer_class, data) -> dict:
    s = serializer_class(data=data)
    if not s.is_valid():
        name, errors = next(iter(s.errors.items()))
        raise InvalidRule(name, str(errors[0] if isinstance(errors, list) and errors else errors))
    return s.validated_data


def fields_in_scope(user, site, data: dict) -> dict:
    """The request's names as the model's ids, each inside the caller's scope."""
    out = {k: data[k] for k in _PLAIN if k in data}
    if data.get("zone"):
        out["zone"] = scoping.zone_get(user, site, data["zone"])
    elif "zone" in data:
        out["zone"] = None
    if data.get("group"):
        group = scoping.miner_groups_for(user).filter(site=site, name=data["group"]).first()
        if group is None:
            raise Forbidden("no such group in your scope")
        out["group"] = group
    elif "group" in data:
        out["group"] = None
    if data.get("tenant"):
        out["tenant"] = scoping.tenant_get(user, data["tenant"])
    elif "tenant" in data:
        out["tenant"] = None
    for name in ("miners", "excluded_miners"):
        if name in data:
            wanted = list(dict.fromkeys(data[name]))
            found = dict(scoping.miners_for(user).filter(site=site, miner_id__in=wanted).values_list("miner_id", "pk"))
            if len(found) != len(wanted):
                raise Forbidden("a miner is not in your scope")
            out[name] = [found[m] for m in wanted]
    return out


def rule_in_scope(request, pk) -> Rule:
    rule = rules_for(request.user).filter(pk=pk).first()
    if rule is None:
        raise Forbidden("no such rule in your scope")
    return rule


class RuleListCreateApi(APIView):
    """GET: rules of the sites in the caller's scope (filter site_id). POST: create one (site_id required)."""

    pagination_class = PageSchema  # the schema's page shape; the view answers with `paginated`

    permission_classes = [IsOperator]

    @extend_schema(parameters=PAGE_PARAMETERS, responses=RuleOut(many=True))
    def get(self, request):
        qs = filter_by(rules_for(request.user), request.query_params, {"site_id": "site__code"})
        return paginated(request, qs, lambda rows: RuleOut(rows, many=True).data, ordering=("-updated_at", "-id"))

    @extend_schema(request=RuleCreateIn, responses={201: RuleOut})
    def post(self, request):
        data = validated(RuleIn, request.data)
        if not data.get("site_id"):
            raise InvalidRule("site_id", "a site code is required")
        site = scoping.site_get(request.user, data["site_id"])
        rule = rule_create(
            actor=Actor.user(request.user), user=request.user, site=site, **fields_in_scope(request.user, site, data)
        )
        return Response(RuleOut(rules_for(request.user).get(pk=rule.pk)).data, status=status.HTTP_201_CREATED)


class RuleDetailApi(APIView):
    """GET one rule; PATCH changes it as a new version (a change that changes nothing makes none)."""

    permission_classes = [IsOperator]

    @extend_schema(responses=RuleOut)
    def get(self, request, pk):
        return Response(RuleOut(rule_in_scope(request, pk)).data)

    @extend_schema(request=RuleIn, responses=RuleOut)
    def patch(self, request, pk):
        rule = rule_in_scope(request, pk)
        data = validated(RuleIn, request.data)
        if "site_id" in data and data["site_id"] != rule.site.code:
            raise InvalidRule("site_id", "a rule cannot move to another site")
        changes = fields_in_scope(request.user, rule.site, data)
        rule = rule_update(actor=Actor.user(request.user), user=request.user, rule=rule, **changes)
        return Response(RuleOut(rules_for(request.user).get(pk=rule.pk)).data)


class RuleHitListApi(APIView):
    """GET: rule hits in the caller's scope, newest first (filters site_id, miner_id, kind, rule_id)."""

    pagination_class = PageSchema  # the schema's page shape; the view answers with `paginated`

    permission_classes = [IsOperator]

    @extend_schema(parameters=[HitFilterIn, *PAGE_PARAMETERS], responses=RuleHitOut(many=True))
    def get(self, request, pk=None):
        f = validated(HitFilterIn, request.query_params)
        qs = rule_hits_for(request.user)
        if pk is not None:
            qs = qs.filter(rule=rule_in_scope(request, pk))
        lookups = {"site_id": "rule__site__code", "miner_id": "miner__miner_id", "kind": "kind", "rule_id": "rule_id"}
        qs = filter_by(qs, f, lookups)
        return paginated(request, qs, lambda rows: RuleHitOut(rows, many=True).data, ordering=("-at", "-id"))
