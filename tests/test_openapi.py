import pytest
from django.core.management import call_command


def test_openapi_schema_generates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/admin/v1/audit" in text
    assert "collectorToken" in text


@pytest.mark.django_db
def test_openapi_ui_is_served_offline(client):
    # drf-spectacular-sidecar ships the UI assets: no CDN is needed to browse the API.
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content
    assert b"cdn." not in response.content


def _schema(tmp_path) -> dict:
    import json

    out = tmp_path / "schema.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(out))
    return json.loads(out.read_text())


def test_people_apis_name_the_personal_token_and_edge_apis_the_collector_token(tmp_path):
    schema = _schema(tmp_path)
    schemes = schema["components"]["securitySchemes"]
    assert schemes["personalToken"]["type"] == "http" and schemes["personalToken"]["scheme"] == "bearer"

    def security(path, method):
        return {name for item in schema["paths"][path][method].get("security", []) for name in item}

    for path, method in [
        ("/api/admin/v1/audit", "get"),
        ("/api/admin/v1/commands", "post"),
        ("/api/client/miners", "get"),
        ("/api/v1/me/tokens", "post"),
    ]:
        assert {"personalToken", "cookieAuth"} <= security(path, method), path
        assert not {"collectorToken", "collectorBearer"} & security(path, method), path
    for path, method in [("/api/edge/v1/telemetry/batch", "post"), ("/api/edge/v1/commands/poll", "get")]:
        assert security(path, method) == {"collectorToken", "collectorBearer"}, path
        # either header alone is accepted: alternatives (OR), never both required (AND)
        assert {"collectorToken": []} in schema["paths"][path][method]["security"], path
    assert schemes["collectorBearer"] == schemes["collectorBearer"] | {"type": "http", "scheme": "bearer"}
