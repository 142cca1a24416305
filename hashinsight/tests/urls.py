"""The project's URLs plus views that fail on purpose (test_errors.py)."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from hashinsight.urls import urlpatterns as project_urlpatterns

SECRET = "db-password-hunter2"


class BrokenApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError(f"unexpected state, {SECRET}")


def broken_view(request):
    raise RuntimeError(f"unexpected state, {SECRET}")


urlpatterns = [
    path("api/tests/broken", BrokenApi.as_view()),
    path("api/tests/broken-plain", broken_view),
    path("tests/broken-page", broken_view),
    *project_urlpatterns,
]

handler404 = "hashinsight.views.not_found"
handler500 = "hashinsight.views.server_error"
