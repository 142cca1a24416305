from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from control.api_status import CollectorStatusApi
from hashinsight.ops import views as ops
from portal.views import home
from tenants.api_audit import AuditEventListApi
from tenants.api_tokens import MyTokenListApi, MyTokenRevokeApi
from tenants.invitations import invitation_view
from tenants.mfa import activate_totp
from tenants.views_tokens import token_revoke_view, tokens_page

urlpatterns = [
    # probes and metrics
    path("health", ops.health, name="health"),
    path("health/deep", ops.health_deep, name="health-deep"),
    path("ready", ops.ready, name="ready"),
    path("alive", ops.alive, name="alive"),
    path("metrics", ops.metrics_view, name="metrics"),
    # people
    path("", home, name="home"),
    path("portal/", include("portal.urls")),
    path("admin/", admin.site.urls),
    path("accounts/invite/<str:token>/", invitation_view, name="invitation"),
    path("accounts/tokens/", tokens_page, name="account_tokens"),
    path("accounts/tokens/<int:pk>/revoke/", token_revoke_view, name="account_token_revoke"),
    # allauth's TOTP enrolment, which also marks the session as having passed MFA (tenants/mfa.py)
    path("accounts/2fa/totp/activate/", activate_totp, name="mfa_activate_totp"),
    path("accounts/", include("allauth.urls")),
    # the signed-in person's own API tokens (session or token)
    path("api/v1/me/tokens", MyTokenListApi.as_view(), name="me-token-list"),
    path("api/v1/me/tokens/<int:token_id>", MyTokenRevokeApi.as_view(), name="me-token-revoke"),
    # operator API
    path("api/admin/v1/audit", AuditEventListApi.as_view(), name="admin-audit-list"),
    path("", include("control.urls_admin")),
    # the original operator pages' miner start / shutdown / restart / batch commands (legacy)
    path("", include("control.urls_hosting_legacy")),
    path("", include("rules.urls")),
    # the original application's thermal routes (legacy, over the rule engine)
    path("", include("rules.urls_legacy")),
    # collector API
    path("api/collector/status", CollectorStatusApi.as_view(), name="collector-status"),
    path("", include("telemetry.urls_edge")),
    path("", include("control.urls_edge")),
    # telemetry reads
    path("", include("telemetry.urls_read")),
    # hosting: SLA reports (v1 and legacy)
    path("", include("hosting.urls_reports")),
    # hosting: work orders, alerts, maintenance windows, downtime (and their legacy paths)
    path("", include("hosting.urls_api")),
    # hosting: evidence packs
    path("", include("hosting.urls_evidence")),
    # the original customer portal's JSON (legacy)
    path("", include("portal.urls_api")),
    # OpenAPI
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]

handler404 = "hashinsight.views.not_found"
handler500 = "hashinsight.views.server_error"
