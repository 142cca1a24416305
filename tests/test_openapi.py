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


def test_the_schema_tells_the_truth_about_pages_errors_and_uploads(tmp_path):
    # issue 18: what a generated client is built from (the fuzz run checks it against the server)
    schema = _schema(tmp_path)
    components = schema["components"]["schemas"]

    def ref(response):
        return response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]

    for path in ["/api/admin/v1/audit", "/api/admin/v1/commands", "/api/v1/hosting/alerts", "/api/v1/me/tokens"]:
        page = components[ref(schema["paths"][path]["get"]["responses"]["200"])]
        assert set(page["properties"]) == {"next", "previous", "results"}, path  # a page, not a bare array
        limit = next(p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "limit")
        assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 1000), path
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            responses = operation["responses"]
            if {} not in operation.get("security", [{}]):
                assert {"401", "403"} <= set(responses), (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= set(responses), (method, path)
            for code, response in responses.items():
                if code.startswith("4"):
                    assert ref(response) == "ErrorBody", (method, path, code)
    assert components["ErrorBody"]["required"] == ["error_code"]
    for path in ["/api/collector/upload", "/api/edge/v1/telemetry/batch"]:
        body = schema["paths"][path]["post"]["requestBody"]
        assert body["required"] and set(body["content"]) == {"application/json", "application/octet-stream"}
        record = body["content"]["application/json"]["schema"]["oneOf"][0]["items"]["anyOf"][0]
        assert record["required"] == ["miner_id", "timestamp", "online"]
        assert "429" in schema["paths"][path]["post"]["responses"]
