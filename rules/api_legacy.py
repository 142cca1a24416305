"""The original application's thermal routes (SPEC §7, §11; /work/shared/LEGACY_ROUTES.md):
deprecated, never removed, answered in the original's shapes over the site's thermal rules
(rules.services.thermal).

    GET/PUT /api/thermal/config (site_id in the query or the body), POST /api/thermal/check,
    GET /hosting/api/thermal/config/<site_id>, PUT …/config/<config_id> (the config's id is its
    site's), POST /hosting/api/thermal/check/<site_id>, GET …/events/<site_id>, …/stats/<site_id>.

A site is named by its code or its id. Operators only (customers 403), in their site scope: reads
need VIEW, writes and the check OPERATE; another site, a missing one and a malformed id all answer
the same 403. Errors keep the project's body (error_code, error, field) and add the original's
message_en / message_zh."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from core.api.openapi import NON_BLANK
from core.errors import Forbidden, InvalidParameter
from hosting.api.common import DEPRECATED, ERRORS, valid
from rules.selectors_thermal import EVENT_TYPES, thermal_events, thermal_stats
from rules.services.thermal import thermal_check, thermal_config, thermal_config_apply
from tenants import scoping
from tenants.permissions import IsOperator
from tenants.site_identity import site_by_code_or_alias

ZH = {
    "UNAUTHENTICATED": "请先登录",
    "FORBIDDEN": "无权访问该站点",
    "INVALID_THERMAL_CONFIG": "热保护配置无效",
    "INVALID_RULE": "热保护规则无效",
    "INVALID_PARAMETER": "参数无效",
    "MALFORMED_BODY": "请求格式错误",
}
NEW_API = "Use /api/admin/v1/rules (the thermal rules are ordinary rules with thermal_level set)."


def site_for(user, ref, capability: str = scoping.Capability.VIEW):
    """The site named by code or alias (the original's numeric id is an alias once imported), else by
    id, in the user's scope for `capability`; 403 otherwise."""
    if ref in (None, ""):
        raise InvalidParameter("site_id: required", field="site_id")
    ref = str(ref)
    sites = scoping.sites_for(user, capability)
    site = site_by_code_or_alias(ref, sites)
    if site is None and ref.isdigit() and len(ref) < 12:
        site = sites.filter(pk=int(ref)).first()
    if site is None:
        raise Forbidden(scoping.FORBIDDEN_MESSAGE)
    return site


class LegacyThermalView(APIView):
    """Operators only; every error body also carries the original's message_en / message_zh."""

    permission_classes = [IsOperator]

    def get_exception_handler(self):
        handler = super().get_exception_handler()

        def bilingual(exc, context):
            response = handler(exc, context)
            if response is not None and isinstance(response.data, dict) and "error_code" in response.data:
                response.data.setdefault("message_en", response.data.get("error"))
                response.data.setdefault("message_zh", ZH.get(response.data["error_code"], "请求失败"))
            return response

        return bilingual

    def site_ref(self, request, kwargs: dict):
        if "site_id" in kwargs:
            return kwargs["site_id"]
        body = request.data if isinstance(request.data, dict) else {}
        return body.get("site_id", request.query_params.get("site_id"))


def _config_body(request, site) -> dict:
    body = request.data if isinstance(request.data, dict) else None
    if body is None:
        raise InvalidParameter("body: a JSON object is required", field="body")
    config, written = thermal_config_apply(
        actor=Actor.user(request.user),
        user=request.user,
        site=site,
        changes={k: v for k, v in body.items() if k != "site_id"},
    )
    message = f"thermal config saved ({', '.join(written)} rule(s) written)" if written else "thermal config unchanged"
    return {
        "success": True,
        "message": message,
        "message_en": message,
        "message_zh": "热保护配置已更新" if written else "热保护配置无变化",
        "config": config,
        "written": written,
    }


def _check_body(site) -> dict:
    results = thermal_check(site=site)
    en = f"checked {results['checked']} miner(s): {results['actions']} action(s)"
    zh = f"已检查 {results['checked']} 台矿机，执行 {results['actions']} 项操作"
    return {"success": True, "results": results, "message_en": en, "message_zh": zh}


_CONFIG_GET = {
    "responses": {200: OpenApiTypes.OBJECT, **ERRORS},
    "description": DEPRECATED + "{success, config}: the site's thermal rules as the original's config. " + NEW_API,
}
_CONFIG_PUT = {
    "responses": {200: OpenApiTypes.OBJECT, **ERRORS},
    "description": DEPRECATED
    + "A (partial) config of the original's fields, written as the site's thermal rules (each change "
    "a new rule version, audited); 400 INVALID_THERMAL_CONFIG naming the field. " + NEW_API,
}
_CHECK = {
    "responses": {200: OpenApiTypes.OBJECT, **ERRORS},
    "description": DEPRECATED
    + "One rule pass of the site now (all its enabled rules): {success, results, message_en, message_zh}. "
    + "Use the rule engine's beat or manage.py evaluate_rules --site.",
}


@extend_schema(deprecated=True)
class ThermalConfigApi(LegacyThermalView):
    """GET /api/thermal/config?site_id= · PUT /api/thermal/config {site_id, …} (deprecated), and the
    hosting variants GET/PUT /hosting/api/thermal/config/<id>."""

    @extend_schema(**_CONFIG_GET)
    def get(self, request, **kwargs):
        site = site_for(request.user, self.site_ref(request, kwargs))
        return Response({"success": True, "config": thermal_config(site)})

    @extend_schema(request=OpenApiTypes.OBJECT, **_CONFIG_PUT)
    def put(self, request, **kwargs):
        site = site_for(request.user, self.site_ref(request, kwargs), scoping.Capability.OPERATE)
        return Response(_config_body(request, site))


@extend_schema(deprecated=True)
class ThermalCheckApi(LegacyThermalView):
    """POST /api/thermal/check {site_id} and POST /hosting/api/thermal/check/<site_id> (deprecated)."""

    @extend_schema(request=None, **_CHECK)
    def post(self, request, **kwargs):
        site = site_for(request.user, self.site_ref(request, kwargs), scoping.Capability.OPERATE)
        return Response(_check_body(site))


class EventFilterIn(serializers.Serializer):
    event_type = serializers.ChoiceField(choices=EVENT_TYPES, required=False)
    miner_id = serializers.CharField(required=False, max_length=128)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)


@extend_schema(deprecated=True)
class ThermalEventsApi(LegacyThermalView):
    """GET /hosting/api/thermal/events/<site_id>[?event_type=&miner_id=&limit=] (deprecated)."""

    @extend_schema(
        parameters=[EventFilterIn],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description=DEPRECATED + "{success, events}: the hits of the site's thermal rules. "
        "Use /api/admin/v1/rule_hits?site_id=.",
    )
    def get(self, request, site_id):
        site = site_for(request.user, site_id)
        f = valid(EventFilterIn, request.query_params)
        events = thermal_events(site, event=f.get("event_type"), miner=f.get("miner_id"), limit=f["limit"])
        return Response({"success": True, "events": events})


@extend_schema(deprecated=True)
class ThermalStatsApi(LegacyThermalView):
    """GET /hosting/api/thermal/stats/<site_id> (deprecated)."""

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description=DEPRECATED + "{success, stats}: today's thermal events by type, throttled now, hot miners.",
    )
    def get(self, request, site_id):
        return Response({"success": True, "stats": thermal_stats(site_for(request.user, site_id))})


# The routes without the site in the path name it in the query (GET) or the body (PUT, POST): the
# same views, their schema saying so (issue 18: a request without site_id was "schema-valid").
_SITE_QUERY = OpenApiParameter(
    "site_id", {"type": "string", "minLength": 1}, required=True, description="the site's code or the original's id"
)
_SITE_BODY = {
    "type": "object",
    "required": ["site_id"],
    "properties": {
        "site_id": {
            "type": "string",
            "minLength": 1,
            "pattern": NON_BLANK,
            "description": "the site's code or the original's id",
        }
    },
    "additionalProperties": True,
}


@extend_schema(deprecated=True)
class ThermalConfigBySiteIdApi(ThermalConfigApi):
    __doc__ = ThermalConfigApi.__doc__

    @extend_schema(parameters=[_SITE_QUERY], **_CONFIG_GET)
    def get(self, request, **kwargs):
        return super().get(request, **kwargs)

    @extend_schema(request={"application/json": _SITE_BODY}, **_CONFIG_PUT)
    def put(self, request, **kwargs):
        return super().put(request, **kwargs)


@extend_schema(deprecated=True)
class ThermalCheckBySiteIdApi(ThermalCheckApi):
    __doc__ = ThermalCheckApi.__doc__

    @extend_schema(request={"application/json": _SITE_BODY}, **_CHECK)
    def post(self, request, **kwargs):
        return super().post(request, **kwargs)
