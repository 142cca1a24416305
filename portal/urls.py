from django.urls import path

from portal import views, views_downtime

app_name = "portal"

urlpatterns = [
    path("", views.portal_index, name="index"),
    path("t/<slug:tenant>/", views.dashboard, name="dashboard"),
    path("t/<slug:tenant>/miners/", views.miners, name="miners"),
    path("t/<slug:tenant>/miners/<str:site>/<str:miner_id>/", views.miner, name="miner"),
    path("t/<slug:tenant>/downtime/", views_downtime.downtime_page, name="downtime"),
]
