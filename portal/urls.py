from django.urls import path

from portal import views, views_approvals, views_downtime, views_evidence, views_hosting, views_reports

app_name = "portal"

urlpatterns = [
    path("", views.portal_index, name="index"),
    path("t/<slug:tenant>/", views.dashboard, name="dashboard"),
    path("t/<slug:tenant>/miners/", views.miners, name="miners"),
    path("t/<slug:tenant>/miners/<str:site>/<str:miner_id>/", views.miner, name="miner"),
    path("t/<slug:tenant>/downtime/", views_downtime.downtime_page, name="downtime"),
    path("t/<slug:tenant>/reports/", views_reports.reports, name="reports"),
    path("t/<slug:tenant>/work-orders/", views_hosting.work_orders, name="work_orders"),
    path("t/<slug:tenant>/work-orders/<int:pk>/", views_hosting.work_order, name="work_order"),
    path("t/<slug:tenant>/events/", views_hosting.events, name="events"),
    path("t/<slug:tenant>/evidence/", views_evidence.evidence, name="evidence"),
    path("t/<slug:tenant>/approvals/", views_approvals.approvals, name="approvals"),
    path("t/<slug:tenant>/approvals/miners/", views_approvals.approval_miners, name="approval_miners"),
]
