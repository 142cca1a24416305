from django.urls import path

from rules import api

urlpatterns = [
    path("api/admin/v1/rules", api.RuleListCreateApi.as_view(), name="admin-rules"),
    path("api/admin/v1/rules/<int:pk>", api.RuleDetailApi.as_view(), name="admin-rule"),
    path("api/admin/v1/rules/<int:pk>/hits", api.RuleHitListApi.as_view(), name="admin-rule-hits"),
    path("api/admin/v1/rule_hits", api.RuleHitListApi.as_view(), name="admin-rule-hit-list"),
]
