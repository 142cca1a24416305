"""With DEBUG=False an unhandled error reaches the client as a bare error_code, never a trace;
the log keeps the trace under the same request id."""

import uuid

import pytest
from django.test import Client

from hashinsight.tests.urls import SECRET

pytestmark = [pytest.mark.django_db, pytest.mark.urls("hashinsight.tests.urls")]


@pytest.fixture
def client():
    return Client(raise_request_exception=False)


def test_an_unhandled_error_in_an_api_view_is_a_500_with_internal_error(client, settings, caplog):
    assert settings.DEBUG is False
    response = client.get("/api/tests/broken", HTTP_X_REQUEST_ID="support-ticket-9")
    assert response.status_code == 500
    assert response.json() == {"success": False, "error_code": "INTERNAL_ERROR", "error": "internal error"}
    assert SECRET.encode() not in response.content and b"Traceback" not in response.content
    (logged,) = [
        r for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "api.unhandled_exception"
    ]
    assert logged.msg["request_id"] == response["X-Request-ID"] == "support-ticket-9"
    assert logged.exc_info and SECRET in str(logged.exc_info[1])


def test_an_unhandled_error_in_a_plain_view_under_api_is_json_too(client):
    response = client.get("/api/tests/broken-plain")
    assert response.status_code == 500
    assert response.json()["error_code"] == "INTERNAL_ERROR"
    assert SECRET.encode() not in response.content


def test_an_unhandled_error_in_a_page_shows_no_trace(client):
    response = client.get("/tests/broken-page")
    assert response.status_code == 500
    assert SECRET.encode() not in response.content and b"Traceback" not in response.content
    assert response["X-Request-ID"]


def test_an_oversized_or_odd_request_id_is_replaced(client):
    response = client.get("/alive", HTTP_X_REQUEST_ID="x" * 500)
    assert uuid.UUID(response["X-Request-ID"])
    response = client.get("/alive", HTTP_X_REQUEST_ID='evil" id')
    assert uuid.UUID(response["X-Request-ID"])
