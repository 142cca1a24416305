from django.urls import path

from rules import api, api_backtest

urlpatterns = [
    path("api/admin/v1/rules", api.RuleListCreateApi.as_view(), name="admin-rules"),
    path("api/admin/v1/rules/backtest", api_backtest.RuleBacktestDraftApi.as_view(), name="admin-rule-backtest-draft"),
    path("api/admin/v1/rules/<int:pk>", api.RuleDetailApi.as_view(), name="admin-rule"),
    path("api/admin/v1/rules/<int:pk>/backtest", api_backtest.RuleBacktestApi.as_view(), name="admin-rule-backtest"),
    path("api/admin/v1/rules/<int:pk>/hits", api.RuleHitListApi.as_view(), name="admin-rule-hits"),
    path("api/admin/v1/rule_hits", api.RuleHitListApi.as_view(), name="admin-rule-hit-list"),
]
