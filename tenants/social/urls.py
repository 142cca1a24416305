"""The OpenID Connect login and callback routes (allauth's names and paths), over the adapter that
always checks the ID token's signature."""

from django.urls import include, path, re_path

from tenants.social import views

urlpatterns = [
    re_path(
        r"^oidc/(?P<provider_id>[^/]+)/",
        include(
            [
                path("login/", views.login, name="openid_connect_login"),
                path("login/callback/", views.callback, name="openid_connect_callback"),
            ]
        ),
    )
]
