"""What `make fuzz` found at 50 examples per operation (issue 18), each as the request it sent:
NUL characters in the query string or a JSON body were refused (400 "Null characters are not
allowed") though the schema allows them, and an optional query parameter sent empty was read as
absent (200) while the schema said it was invalid (now `allowEmptyValue`), except `?limit=`, which
was a 400 (now absent too)."""

import json
import re

import pytest
from django.core.management import call_command

from control.models import Command
from core.api.openapi import NON_BLANK


@pytest.fixture
def noc(as_user, noc_x):
    return as_user(noc_x)


def test_a_nul_in_the_query_string_is_dropped_not_refused(noc):
    # was: 400 {"fields": {"action": ["Null characters are not allowed."]}}
    response = noc.get("/api/admin/v1/audit?action=%F2%AC%B7%8D%00%3B")
    assert response.status_code == 200, response.content
    assert noc.get("/api/admin/v1/commands?miner_id=x%00y&type=set_fan").status_code == 200


def test_a_nul_in_a_json_body_is_dropped_not_refused(noc, world, settings):
    # was: 400 INVALID_PARAMS "command_type: Null characters are not allowed."
    settings.COMMAND_BLAST_RADIUS_PCT = 100
    miner = world.miners_a_x[0]
    body = {
        "site_id": "SITE-X",
        "miner_id": miner.miner_id,
        "command_type": "restart\u0000",
        "reason": "fan\u0000 check",
    }
    response = noc.post("/api/admin/v1/commands", body, content_type="application/json")
    assert response.status_code in (200, 201), response.content
    command = Command.objects.get(miner=miner)
    assert (command.command_type, command.reason) == ("reboot", "fan check")  # restart is the original name of reboot


def test_a_nul_in_a_raw_query_lookup_is_no_server_error(as_user, customer_a):
    # was: 500 (the tenant slug, read raw, reached PostgreSQL with its NUL)
    response = as_user(customer_a).get("/api/client/miners?per_page=404&page=139&tenant=%29%C2%AC%00%3B")
    assert response.status_code < 500 and "error_code" in response.json(), response.content


def test_a_query_value_of_whitespace_alone_is_absent(noc):
    # was: 400 INVALID_RULE "miner_id: This field may not be blank." (DRF trims, then refuses the blank)
    response = noc.get("/api/admin/v1/rule_hits?miner_id=%09&kind=%20")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "path", ["/api/admin/v1/audit?since=&until=", "/api/admin/v1/curtailments?state=", "/api/admin/v1/audit?limit="]
)
def test_an_empty_optional_query_parameter_is_absent(noc, path):
    # `?limit=` was 400 INVALID_PARAMETER; the others were 200 where the schema said invalid
    response = noc.get(path)
    assert response.status_code == 200, response.content
    assert "results" in response.json()


def test_an_ack_without_a_body_is_refused_as_the_schema_says(client, world, tmp_path):
    # the schema said the ACK bodies were optional; the server refuses an empty one
    answer = client.post("/api/collector/commands/ack", HTTP_X_COLLECTOR_KEY=world.token_x, HTTP_X_SITE_ID="SITE-X")
    assert (answer.status_code, answer.json()["error_code"]) == (400, "MALFORMED_BODY")
    schema = _schema(tmp_path)
    for path in ("/api/collector/commands/ack", "/api/collector/commands/{command_id}/result"):
        assert schema["paths"][path]["post"]["requestBody"]["required"] is True, path


def _schema(tmp_path) -> dict:
    out = tmp_path / "schema.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(out))
    return json.loads(out.read_text())


def test_the_schema_says_an_empty_optional_query_parameter_is_allowed(tmp_path):
    schema = _schema(tmp_path)
    optional = [
        (path, method, p)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        for p in operation.get("parameters", [])
        if p["in"] == "query" and not p.get("required")
    ]
    assert len(optional) > 100
    assert [(path, method, p["name"]) for path, method, p in optional if not p.get("allowEmptyValue")] == []
    audit = {p["name"]: p for p in schema["paths"]["/api/admin/v1/audit"]["get"]["parameters"]}
    assert audit["since"]["allowEmptyValue"] and audit["limit"]["allowEmptyValue"]


def test_an_upload_mode_header_is_recorded_as_sent_and_no_enum_is_claimed(client, world, tmp_path):
    # `X-Upload-Mode:` (empty) was accepted where the schema listed an enum: the header never refuses an upload
    answer = client.post(
        "/api/collector/upload",
        b"[]",
        content_type="application/json",
        HTTP_X_UPLOAD_MODE="",
        HTTP_X_COLLECTOR_KEY=world.token_x,
    )
    assert answer.status_code == 200 and answer.json()["success"] is True, answer.content
    schema = _schema(tmp_path)
    for path in ("/api/collector/upload", "/api/collector/telemetry", "/api/edge/v1/telemetry/batch"):
        headers = {p["name"]: p for p in schema["paths"][path]["post"]["parameters"] if p["in"] == "header"}
        assert "enum" not in headers["X-Upload-Mode"]["schema"], path


def test_the_schema_lists_the_command_types_each_route_accepts(tmp_path):
    # was: `command_type: string` on every command-create body, so a generated client (and schemathesis at
    # 50 examples: POST /api/v1/commands/propose {"command_type": "miners_for"}) sent names the server refuses
    from control.api_fields import CREATE_NAMES
    from control.legacy_v1_shapes import NAMES_IN

    schemas = _schema(tmp_path)["components"]["schemas"]
    assert schemas["CommandTypeEnum"]["enum"] == CREATE_NAMES
    assert schemas["OriginalCommandTypeEnum"]["enum"] == NAMES_IN
    for component in ("CreateInRequest", "LegacyCreateInRequest", "CommandInRequest"):
        assert schemas[component]["properties"]["command_type"]["allOf"] == [
            {"$ref": "#/components/schemas/CommandTypeEnum"}
        ], component
    assert schemas["ProposeInRequest"]["properties"]["command_type"]["allOf"] == [
        {"$ref": "#/components/schemas/OriginalCommandTypeEnum"}
    ]
    assert {"reboot", "REBOOT", "miner_restart", "set_pool"} <= set(NAMES_IN) and "Reboot" not in NAMES_IN


@pytest.mark.parametrize("name,ok", [("reboot", True), ("REBOOT", True), ("miner_restart", True), ("Reboot", False)])
def test_the_original_command_names_are_taken_in_upper_or_lower_case_only(name, ok):
    # the schema's enum is exact; "Reboot" was taken (upper-cased) though no schema allowed it
    from control.errors import InvalidParams
    from control.legacy_v1_shapes import command_in

    if ok:
        assert command_in(name, {}) == ("reboot", {})
    else:
        with pytest.raises(InvalidParams):
            command_in(name, {})


def test_a_blank_after_trimming_request_string_is_refused_and_the_schema_says_so(noc, tmp_path):
    # was: site_id "\n" (minLength 1 in the schema) refused with 400 "may not be blank" (DRF trims first)
    body = {"site_id": "\n", "miner_id": "m", "command_type": "reboot"}
    response = noc.post("/api/admin/v1/commands", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["field"] == "site_id", response.content
    site_id = _schema(tmp_path)["components"]["schemas"]["CreateInRequest"]["properties"]["site_id"]
    assert site_id["minLength"] == 1 and site_id["pattern"] == NON_BLANK
    blank = [chr(c) for c in range(0x3001) if chr(c).isspace()] + ["\x00"]  # what the server trims or drops
    assert not re.search(NON_BLANK, "".join(blank)) and all(re.search(NON_BLANK, f" {c}x ") for c in "S\u200b\ufeff")


def test_a_backtest_ending_in_year_one_is_a_period_error_not_a_500(noc):
    # was: 500 (end − 24 h overflowed datetime)
    body = {"end": "0001-01-01T03:00:00Z", "site_id": "SITE-X", "metric": "temperature", "op": "gt", "threshold": 80}
    response = noc.post("/api/admin/v1/rules/backtest", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert (response.json()["error_code"], response.json()["field"]) == ("BACKTEST_PERIOD_INVALID", "end")


def test_what_the_fuzz_found_refused_is_what_the_schema_now_says(tmp_path):
    # schema-valid requests the server refuses, each now outside the schema (issue 18 `make fuzz`, 50 examples)
    schema = _schema(tmp_path)
    paths = schema["paths"]
    # no body at all: `site_id` is required, so is the body
    assert paths["/api/thermal/check"]["post"]["requestBody"]["required"] is True
    assert paths["/api/thermal/config"]["put"]["requestBody"]["required"] is True
    # `?site_id=%0D%09` is blank once read; `?tenant=%22%07` is no slug
    evidence = {p["name"]: p for p in paths["/api/v1/hosting/evidence_pack"]["get"]["parameters"]}
    assert evidence["site_id"]["required"] and evidence["site_id"]["schema"]["pattern"] == NON_BLANK
    generate = {p["name"]: p for p in paths["/hosting/api/client/reports/generate"]["post"]["parameters"]}
    assert generate["tenant"]["schema"]["pattern"] == "^[-a-zA-Z0-9_]+$"
    # /api/v1/telemetry/live also answers the original's request: its parameters and answer are documented
    live = paths["/api/v1/telemetry/live"]["get"]
    params = {p["name"]: p for p in live["parameters"]}
    assert not params["site_id"].get("required") and {"miner_id", "online"} <= set(params)
    shapes = live["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/TelemetryLiveOriginal"} in schema["components"]["schemas"][
        shapes["$ref"].rsplit("/", 1)[-1]
    ]["oneOf"]


def test_the_live_api_still_requires_a_site_outside_the_originals_request(noc):
    response = noc.get("/api/v1/telemetry/live?state=online")
    assert response.status_code == 400 and list(response.json()["fields"]) == ["site_id"], response.content
    original = noc.get("/api/v1/telemetry/live?limit=3")  # the original's request: all your miners, its shape
    assert original.status_code == 200 and set(original.json()) == {"miners", "count", "_meta"}
    assert noc.get("/api/v1/telemetry/live?site_id=SITE-X&limit=1001").status_code == 400  # this API's pages
