"""Backtest API (operators): POST /api/admin/v1/rules/backtest replays a draft (the body of a rule
create, names in, plus start/end), POST /api/admin/v1/rules/<id>/backtest a saved rule, over the
1-minute tier (raw samples for the metrics it lacks). A read: nothing is written or audited.
Period problems are 400 BACKTEST_PERIOD_INVALID, a raw-only metric before the raw retention 400
BACKTEST_METRIC_UNAVAILABLE, a bad draft 400 INVALID_RULE (all naming the field); another site's
rule 403 as for a missing one."""

import datetime as dt

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from rules.api import RuleCreateIn, RuleIn, fields_in_scope, rule_in_scope, validated
from rules.errors import BacktestPeriodInvalid, InvalidRule
from rules.services.backtest import rule_backtest
from tenants import scoping
from tenants.permissions import IsOperator

DEFAULT_PERIOD = dt.timedelta(hours=24)


class PeriodIn(serializers.Serializer):
    start = serializers.DateTimeField(required=False, help_text="ISO 8601; default: end − 24 h")
    end = serializers.DateTimeField(required=False, help_text="ISO 8601, not in the future; default: now")


class BacktestDraftIn(RuleCreateIn, PeriodIn):
    """A rule as POST /api/admin/v1/rules takes it (site_id required), plus the period."""


class _HitOut(serializers.Serializer):
    at = serializers.DateTimeField(help_text="the minute whose pass made the hit")
    kind = serializers.CharField()
    value = serializers.FloatField(allow_null=True)


class _MinerOut(serializers.Serializer):
    miner_id = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="hits by kind")
    first_at = serializers.DateTimeField()
    last_at = serializers.DateTimeField()
    hits = _HitOut(many=True)
    hits_truncated = serializers.BooleanField(help_text="more hits than listed (the counts are complete)")


class _TotalsOut(serializers.Serializer):
    miners_hit = serializers.IntegerField()
    hits = serializers.DictField(child=serializers.IntegerField())


class _DayOut(serializers.Serializer):
    day = serializers.DateField()
    counts = serializers.DictField(child=serializers.IntegerField())


class BacktestOut(serializers.Serializer):
    rule_id = serializers.IntegerField(allow_null=True, help_text="null for a draft")
    version = serializers.IntegerField(allow_null=True)
    definition = serializers.DictField(help_text="the definition replayed (ids, as a RuleVersion keeps it)")
    site_id = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    miners_read = serializers.IntegerField(help_text="miners of the scope with a breaching minute")
    minutes_read = serializers.IntegerField()
    seconds = serializers.FloatField()
    totals = _TotalsOut()
    per_day = _DayOut(many=True)
    miners = _MinerOut(many=True)


def _period(data) -> tuple[dt.datetime, dt.datetime]:
    s = PeriodIn(data={k: data[k] for k in ("start", "end") if k in data})
    if not s.is_valid():
        name, errors = next(iter(s.errors.items()))
        raise BacktestPeriodInvalid(name, str(errors[0]))
    end = s.validated_data.get("end") or dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    if "start" in s.validated_data:
        return s.validated_data["start"], end
    try:
        return end - DEFAULT_PERIOD, end
    except OverflowError:  # an end in year 1's first day (issue 18 `make fuzz`: was a 500)
        raise BacktestPeriodInvalid("end", "too early: 24 h before it is before year 1") from None


class RuleBacktestDraftApi(APIView):
    """POST: replay a draft rule (not saved) over the period."""

    permission_classes = [IsOperator]

    @extend_schema(request=BacktestDraftIn, responses=BacktestOut, operation_id="admin_rule_backtest_draft")
    def post(self, request):
        start, end = _period(request.data)
        data = validated(RuleIn, request.data)
        if not data.get("site_id"):
            raise InvalidRule("site_id", "a site code is required")
        site = scoping.site_get(request.user, data["site_id"])
        draft = {"site": site, **fields_in_scope(request.user, site, data)}
        report = rule_backtest(rule_or_definition=draft, start=start, end=end, user=request.user)
        return Response(BacktestOut(report.as_dict()).data)


class RuleBacktestApi(APIView):
    """POST: replay a saved rule (its current version) over the period."""

    permission_classes = [IsOperator]

    @extend_schema(request=PeriodIn, responses=BacktestOut, operation_id="admin_rule_backtest")
    def post(self, request, pk):
        rule = rule_in_scope(request, pk)
        start, end = _period(request.data)
        report = rule_backtest(rule_or_definition=rule, start=start, end=end, user=request.user)
        return Response(BacktestOut(report.as_dict()).data)
