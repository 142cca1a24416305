"""The schema tells the truth about errors (issue 18: 71 status codes the server returned were
undocumented). A drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS) gives every operation
the error answers the one exception handler (core.api.exceptions) can give it, each with the one
error body `ErrorBody`:

- 400 to any operation that takes parameters or a body (validation, MALFORMED_BODY, TOO_MANY_FIELDS);
- 401 and 403 to any operation that needs credentials (not signed in / outside the caller's scope);
- 404 to any operation with a path parameter or a `cursor` (an unknown id, an unreadable cursor);
- 409 to any write on a named object (a transition the object's state does not allow);
- 413 to any operation with a body (DATA_UPLOAD_MAX_MEMORY_SIZE, the upload limits);
- 429 to the collector operations (the per-token throttles, docs/SECURITY.md).

An optional query parameter may be empty (`allowEmptyValue`: DRF reads it as absent).
Request bodies are documented as JSON where a view takes JSON (not
also as forms). A view's own description of a code (its error_code words) is kept; only the body is added."""

ERROR_BODY = {
    "type": "object",
    "description": "Every error: `error_code` is stable (docs/SECURITY.md), `error` is for people; "
    "`fields` (per-field messages) or `field` names the input at fault.",
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "error_code": {"type": "string"},
        "error": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": True},
        "field": {"type": "string"},
    },
    "required": ["error_code"],
    "additionalProperties": True,
}
_WORDS = {
    400: "Invalid input (INVALID_PARAMETER with `fields`, MALFORMED_BODY, TOO_MANY_FIELDS, …)",
    401: "UNAUTHENTICATED / INVALID_TOKEN: no or bad credentials",
    403: "FORBIDDEN: outside the caller's scope or role",
    404: "NOT_FOUND: no such object in the caller's scope (or an unreadable cursor)",
    409: "INVALID_TRANSITION: not allowed from the object's current state",
    413: "PAYLOAD_TOO_LARGE: body over the size limit",
    429: "RATE_LIMITED: over the collector token's rate (Retry-After)",
}
_WRITES = {"post", "put", "patch", "delete"}
_METHODS = _WRITES | {"get", "head", "options"}


def _codes(operation: dict) -> set[int]:
    parameters = operation.get("parameters", [])
    security = operation.get("security", [])
    schemes = {name for requirement in security for name in requirement}
    codes: set[int] = set()
    has_body = "requestBody" in operation
    named = any(p.get("in") == "path" for p in parameters)
    if parameters or has_body:
        codes.add(400)
    if security and {} not in security:
        codes |= {401, 403}
    if named or any(p.get("name") == "cursor" for p in parameters):
        codes.add(404)
    if has_body:
        codes.add(413)
    if "collectorToken" in schemes:
        codes.add(429)
    return codes


_ANY_OBJECT = {"type": "object", "additionalProperties": {}}
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _resolve(schema: dict, components: dict) -> dict:
    ref = schema.get("$ref", "")
    return components.get(ref.rsplit("/", 1)[-1], {}) if ref.startswith("#/components/schemas/") else schema


def _json_bodies_only(operation: dict, components: dict) -> None:
    """DRF also parses form bodies, but a JSON body's nesting (lists of ids, objects) has no form
    spelling the views read back: the schema offers the JSON form wherever there is one."""
    content = operation.get("requestBody", {}).get("content", {})
    if _resolve(content.get("application/json", {}).get("schema", {}), components).get("required"):
        # a body with required fields cannot be left out (no body reads as {}: 400 naming the first one);
        # issue 18 `make fuzz`: POST /api/thermal/check with no body was schema-valid
        operation["requestBody"]["required"] = True
    if "application/octet-stream" in content:  # an upload: an empty body is 400 MALFORMED_BODY
        operation["requestBody"]["required"] = True
    if content.get("application/json", {}).get("schema") == _ANY_OBJECT:
        # a body declared as any JSON object (the collector's ACKs, `request={"application/json": dict}`)
        # is read by core.wire, which refuses an empty one (400 MALFORMED_BODY; issue 18 `make fuzz`)
        operation["requestBody"]["required"] = True
    if "application/json" in content:
        for media_type in _FORMS:
            content.pop(media_type, None)


def _empty_query_is_absent(operation: dict) -> None:
    """DRF reads an optional query parameter sent empty (`?site_id=`, `?since=`, `?state=`) as not
    sent: the schema says so (`allowEmptyValue`, issue 18 `make fuzz`: `?since=&until=` and `?state=`
    were "schema-violating requests accepted") and does not claim it is refused (no minLength 1)."""
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        if parameter.get("in") == "query" and not parameter.get("required"):
            parameter["allowEmptyValue"] = True
            if schema.get("minLength") == 1:
                del schema["minLength"]
        elif parameter.get("in") == "query":
            # a required one sent as whitespace alone is read as empty (NulFreeQueryMiddleware), then refused
            # as blank: `?site_id=%0D%09` on the evidence pack request (issue 18 `make fuzz`)
            _non_blank(schema)


# "holds a character that is neither whitespace nor NUL" (a JSON Schema pattern is an unanchored search):
# Python's str.strip() whitespace (str.isspace, which is wider than ECMA's \s: U+001C–U+001F, U+0085)
# spelled out, so a client's regex engine and the server agree; NULs are dropped before the trim.
NON_BLANK = r"[^\x00\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def _non_blank(schema) -> None:
    """A required-text field of a request body (DRF CharField, allow_blank=False) trims its value and
    refuses what is left blank: `"\\n"` has minLength 1 but is refused (issue 18 `make fuzz`, site_id).
    The schema says so with a pattern; a field with its own pattern, format or enum is left alone."""
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and schema.get("minLength", 0) >= 1:
        if not any(key in schema for key in ("pattern", "format", "enum")):
            schema["pattern"] = NON_BLANK
    for child in schema.get("properties", {}).values():
        _non_blank(child)
    _non_blank(schema.get("items"))
    for key in ("allOf", "anyOf", "oneOf"):
        for child in schema.get(key, []):
            _non_blank(child)


def document_errors(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in schemas.items():
        if name.endswith("Request"):  # COMPONENT_SPLIT_REQUEST: what clients send
            _non_blank(schema)
    schemas["ErrorBody"] = ERROR_BODY
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            codes = _codes(operation)
            if method in _WRITES and any(p.get("in") == "path" for p in operation.get("parameters", [])):
                codes.add(409)
            _json_bodies_only(operation, schemas)
            _empty_query_is_absent(operation)
            responses = operation.setdefault("responses", {})
            for code in codes:
                responses.setdefault(str(code), {"description": _WORDS[code]})
            for code, response in responses.items():
                if code.startswith("4") and "content" not in response:
                    response["content"] = body
    return result
