"""Operator curtailment API (SPEC §6.3): /api/admin/v1/curtailments (list, create),
/api/admin/v1/curtailments/<id> (with its commands' state counts and the kW shed),
/api/admin/v1/curtailments/<id>/approve and /cancel.

Names in, ids inside: the site by code, the zone by code, the group by name and miners by
miner_id, resolved inside the caller's scope (anything else 403, as a missing id). Operators
only; customers get 403 on all of it."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from control.api_serializers import ReasonIn
from control.errors import CurtailmentInvalid
from control.models import Curtailment, CurtailmentState
from control.selectors import curtailment_command_counts, curtailments_for
from control.services import curtailment as service
from control.services.curtailment_power import curtailment_shed
from core.api.pagination import PAGE_PARAMETERS, PageSchema, filter_by, paginated
from core.errors import Forbidden
from tenants import scoping
from tenants.permissions import IsOperator


class CurtailmentIn(serializers.Serializer):
    site_id = serializers.CharField(help_text="site code")
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()
    reason = serializers.CharField(max_length=2000, help_text="the order: who asked, its reference")
    target_kw = serializers.FloatField(help_text="kW to shed (> 0)")
    zone = serializers.CharField(required=False, allow_null=True, help_text="zone code: only its miners")
    group = serializers.CharField(required=False, allow_null=True, help_text="miner group name: only its miners")
    miners = serializers.ListField(child=serializers.CharField(), required=False, help_text="miner_id values")


class CurtailmentFilterIn(serializers.Serializer):
    site_id = serializers.CharField(required=False)
    state = serializers.ChoiceField(choices=CurtailmentState.choices, required=False)


class ChosenOut(serializers.Serializer):
    miner_id = serializers.CharField()
    power_w = serializers.FloatField()
    why = serializers.CharField()


class CurtailmentOut(serializers.Serializer):
    id = serializers.IntegerField()
    site_id = serializers.CharField(source="site.code")
    zone = serializers.CharField(source="zone.code", allow_null=True, default=None)
    group = serializers.CharField(source="group.name", allow_null=True, default=None)
    miners = serializers.ListField(child=serializers.IntegerField())
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()
    reason = serializers.CharField()
    target_kw = serializers.FloatField()
    state = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    approved_by = serializers.CharField(source="approved_by.username", allow_null=True, default=None)
    approved_at = serializers.DateTimeField(allow_null=True)
    expected_kw = serializers.FloatField(allow_null=True)
    chosen = ChosenOut(many=True)
    not_chosen = serializers.DictField(child=serializers.IntegerField())
    disable_batch_id = serializers.UUIDField(allow_null=True)
    enable_batch_id = serializers.UUIDField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    end_reason = serializers.CharField()
    last_error = serializers.CharField()
    baseline_kw = serializers.FloatField(allow_null=True)
    shed_kw = serializers.FloatField(allow_null=True)


class ShedOut(serializers.Serializer):
    baseline_kw = serializers.FloatField(allow_null=True)
    current_kw = serializers.FloatField(allow_null=True)
    shed_kw = serializers.FloatField(allow_null=True)
    measured_at = serializers.DateTimeField(allow_null=True)


class CurtailmentDetailOut(CurtailmentOut):
    commands = serializers.SerializerMethodField()
    shed = serializers.SerializerMethodField()
    enable_pending = serializers.ListField(child=serializers.IntegerField())

    def get_commands(self, c) -> dict:
        return curtailment_command_counts(c)

    @extend_schema_field(ShedOut)
    def get_shed(self, c) -> dict:
        return ShedOut(curtailment_shed(c)).data


def _valid(serializer_class, data) -> dict:
    s = serializer_class(data=data)
    if not s.is_valid():
        name, errors = next(iter(s.errors.items()))
        raise CurtailmentInvalid(name, str(errors[0] if isinstance(errors, list) and errors else errors))
    return s.validated_data


def _scope(user, site, data: dict) -> dict:
    out: dict = {}
    if data.get("zone"):
        out["zone"] = scoping.zone_get(user, site, data["zone"])
    if data.get("group"):
        out["group"] = scoping.miner_groups_for(user).filter(site=site, name=data["group"]).first()
        if out["group"] is None:
            raise Forbidden("no such group in your scope")
    if data.get("miners"):
        wanted = list(dict.fromkeys(data["miners"]))
        found = list(scoping.miners_for(user).filter(site=site, miner_id__in=wanted))
        if len(found) != len(wanted):
            raise Forbidden("a miner is not in your scope")
        out["miners"] = found
    return out


def _get_or_403(request, pk) -> Curtailment:
    return scoping.object_get(curtailments_for(request.user), pk)


class CurtailmentListCreateApi(APIView):
    """GET: curtailments of the caller's sites, latest start first (filters site_id, state).
    POST: schedule one (it waits for a second person's approval)."""

    pagination_class = PageSchema  # the schema's page shape; the view answers with `paginated`

    permission_classes = [IsOperator]

    @extend_schema(parameters=[CurtailmentFilterIn, *PAGE_PARAMETERS], responses=CurtailmentOut(many=True))
    def get(self, request):
        f = _valid(CurtailmentFilterIn, request.query_params)
        qs = filter_by(curtailments_for(request.user), f, {"site_id": "site__code", "state": "state"})
        return paginated(request, qs, lambda rows: CurtailmentOut(rows, many=True).data, ordering=("-start_at", "-id"))

    @extend_schema(request=CurtailmentIn, responses={201: CurtailmentDetailOut})
    def post(self, request):
        data = _valid(CurtailmentIn, request.data)
        site = scoping.site_get(request.user, data["site_id"])
        c = service.curtailment_create(
            actor=Actor.user(request.user),
            user=request.user,
            site=site,
            start_at=data["start_at"],
            end_at=data["end_at"],
            reason=data["reason"],
            target_kw=data["target_kw"],
            **_scope(request.user, site, data),
        )
        return Response(CurtailmentDetailOut(_get_or_403(request, c.pk)).data, status=status.HTTP_201_CREATED)


class CurtailmentDetailApi(APIView):
    """GET one curtailment: its pick, its commands' state counts and the kW shed (live while active)."""

    permission_classes = [IsOperator]

    @extend_schema(responses=CurtailmentDetailOut)
    def get(self, request, pk):
        return Response(CurtailmentDetailOut(_get_or_403(request, pk)).data)


class _DecisionApi(APIView):
    permission_classes = [IsOperator]
    service = None

    def post(self, request, pk):
        c = _get_or_403(request, pk)  # scope first: a foreign id says nothing about the body
        data = _valid(ReasonIn, request.data)
        type(self).service(actor=Actor.user(request.user), user=request.user, curtailment=c, reason=data["reason"])
        return Response(CurtailmentDetailOut(_get_or_403(request, pk)).data)


@extend_schema(request=ReasonIn, responses=CurtailmentDetailOut)
class CurtailmentApproveApi(_DecisionApi):
    """POST {reason}: approve a scheduled curtailment (APPROVE at the site; not its requester: SELF_APPROVAL)."""

    service = staticmethod(service.curtailment_approve)


@extend_schema(request=ReasonIn, responses=CurtailmentDetailOut)
class CurtailmentCancelApi(_DecisionApi):
    """POST {reason}: cancel; an active one re-enables its miners at once."""

    service = staticmethod(service.curtailment_cancel)
