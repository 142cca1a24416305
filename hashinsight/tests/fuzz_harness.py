"""Schemathesis over the product's own OpenAPI schema, in process (issue 18, docs/SECURITY.md "Fuzzing").

Every operation of /api/schema/ is called through the WSGI app with the real test database, as one
persona at a time; each generated case runs inside a savepoint that is rolled back, so a case
cannot leave state for the next. `run_persona` returns one line per failure (operation, persona,
check, the request as curl) so one run names every disagreement between schema and server.

Examples per operation: FUZZ_EXAMPLES (environment; `make fuzz` sets a large one). Hypothesis runs
derandomized with no deadline and no example database: the same commit fuzzes the same requests."""

import os
import re
import time
from dataclasses import dataclass, field

import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    positive_data_acceptance,
    negative_data_rejection,
]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)

# Constraints between fields that OpenAPI 3.0 parameters cannot state (each in the operation's
# description): a schema-valid request may still be refused with 400 naming one of these fields.
CROSS_FIELD = {
    "POST /api/v1/commands": {"miner_id"},  # exactly one of miner_id, miners, group
    "POST /api/admin/v1/commands": {"miner_id"},
    "POST /api/collector/commands": {"command_type", "miner_id"},  # command_type or command/action; one target
    "POST /api/collector/commands/batch": {"command_type", "miner_id", "miners"},
    "POST /api/v1/commands/propose": {"site_id"},  # in the body here, in the path on /api/sites/{site_id}/commands
    "POST /api/v1/hosting/work_orders": {"site_id"},  # site_id or alert_id
    "POST /hosting/api/tickets": {"title"},  # title or subject
    "GET /api/v1/telemetry/history": {"miner_id"},  # miner_id or site_id
    # site_id, unless the original's request (limit / online / miner_id alone); its pages: limit ≤ 1000
    "GET /api/v1/telemetry/live": {"site_id", "limit"},
    "GET /api/v1/hosting/downtime": {"to"},  # to after from
    "GET /api/v1/hosting/downtime/summary": {"to"},
    "GET /api/v1/hosting/evidence_pack": {"to"},
    "GET /api/v1/hosting/sla_report": {"from", "to"},  # both or neither (this month)
    "POST /hosting/api/client/reports/generate": {"start_date", "end_date"},  # both or neither
    # the period: start before end, at most RULES_BACKTEST_MAX_DAYS, not ahead of now nor before year 1
    "POST /api/admin/v1/rules/backtest": {"start", "end"},
    "POST /api/admin/v1/rules/{id}/backtest": {"start", "end"},
}
# The gzip form of an upload (application/octet-stream) is "gzip of the JSON form": JSON Schema cannot
# say it, so random bytes are refused (400 MALFORMED_BODY); telemetry/tests/test_hostile_uploads.py
# sends the gzip forms by hand.
GZIP_UPLOADS = {
    "POST /api/collector/upload",
    "POST /api/collector/telemetry",
    "POST /api/edge/v1/telemetry/batch",
    "POST /api/edge/v1/telemetry/ingest",
}
# The collector's poll `limit` is lenient as the original's was (anything not an integer: the default).
LENIENT = {"GET /api/edge/v1/commands/poll", "GET /api/collector/commands/pending"}
# 410 Gone is the documented answer of a route not carried over (docs/COMPATIBILITY.md), not a refusal.
GONE_ROUTES = {"POST /hosting/api/client/usage/alerts"}


AUTH_HEADERS = {"authorization", "x-collector-key", "x-site-id", "cookie"}
# schemathesis turns `allowEmptyValue` (every optional query parameter, core/api/openapi.py) into
# `anyOf: [schema, {enum: [""]}]`, and a negative case that mutates other parts names the value as
# "violates `enum` at /properties/<name>/anyOf/1" though it satisfies the first branch (seen at 50
# examples: `?miner_id=y…` beside a mutated Authorization). Such a line is no mutation: it is left
# out of the check below, so the case is excused only if the persona's own headers are all that changed.
_EMPTY_BRANCH = re.compile(r"violates `enum` at /properties/[^/\s]+/anyOf/1\s*$")


def _only_our_headers(failure) -> bool:
    """A negative case whose only mutations are of headers the persona sets itself (its credentials):
    the request sent carried the persona's valid ones, so it was no invalid request."""
    lines = [ln for ln in str(failure).splitlines() if "header" in ln or "body" in ln or "query" in ln]
    mutated = [ln for ln in lines if ("violates" in ln or "Invalid component" in ln) and not _EMPTY_BRANCH.search(ln)]
    return bool(mutated) and all(
        "header" in ln and any(f"/{h}" in ln.lower() or f"`{h}`" in ln.lower() for h in AUTH_HEADERS) for ln in mutated
    )


def _excused(case, response, failure) -> bool:
    label, kind = case.operation.label, type(failure).__name__
    if (
        label in GONE_ROUTES
        and response.status_code == 410
        and kind in ("RejectedPositiveData", "AcceptedNegativeData")
    ):
        return True  # a route not carried over answers 410 to whatever it is sent: no refusal, no acceptance
    if kind == "AcceptedNegativeData" and _only_our_headers(failure):
        return True
    if kind == "RejectedPositiveData":
        if response.status_code != 400:
            return False
        try:
            body = response.json()
        except ValueError:
            return False
        named = set(body.get("fields") or {}) | {body.get("field")}
        if label in GONE_ROUTES:
            return False
        if label in GZIP_UPLOADS and case.media_type == "application/octet-stream":
            return body.get("error_code") == "MALFORMED_BODY"
        return bool(named & CROSS_FIELD.get(label, set()))
    return kind == "AcceptedNegativeData" and label in LENIENT


def examples(default: int = 3) -> int:
    return int(os.environ.get("FUZZ_EXAMPLES") or default)


class _TestWSGIHandler(WSGIHandler):
    """The WSGI app without closing the database connection after each request (as Django's test
    client does): the requests run inside the test's transaction, on the real test database."""

    def __call__(self, environ, start_response):
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        try:
            return super().__call__(environ, start_response)
        finally:
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)


def load_schema():
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", _TestWSGIHandler())


@dataclass
class Persona:
    name: str
    headers: dict = field(default_factory=dict)
    requests: int = 0  # requests sent by run_persona (make fuzz prints them)
    operations: int = 0
    seconds: dict = field(default_factory=lambda: {"call": 0.0, "check": 0.0})  # the rest is generation


class _Rollback(Exception):
    pass


def _report(text: str) -> None:
    """`make fuzz`: each failure goes to FUZZ_REPORT the moment it is found (a long run can be read
    while it goes on)."""
    if report := os.environ.get("FUZZ_REPORT"):
        with open(report, "a") as out:
            out.write(text)


def _call(case, persona: Persona, failures: list[str], details: dict) -> None:
    try:
        with transaction.atomic():
            started = time.perf_counter()
            response = case.call(headers=persona.headers)
            checked = time.perf_counter()
            persona.seconds["call"] += checked - started
            persona.requests += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except (AssertionError, BaseExceptionGroup) as exc:  # a FailureGroup: every failed check of the case
                for failure in getattr(exc, "exceptions", [exc]):
                    if _excused(case, response, failure):
                        continue
                    title = getattr(failure, "title", type(failure).__name__)
                    line = f"{persona.name} {case.operation.label} [{response.status_code}] {title}"
                    if line not in failures:
                        failures.append(line)
                        details.setdefault(line, f"{failure}\n{case.as_curl_command()}\n{response.text[:300]}")
                        _report(f"== {line}\n{details[line]}\n\n")
            finally:
                persona.seconds["check"] += time.perf_counter() - checked
            raise _Rollback
    except _Rollback:
        pass


def run_persona(schema, persona: Persona, *, n: int, operations=None, details=None) -> list[str]:
    """Fuzz every operation (or those whose label contains one of `operations`) as `persona`.
    `details` (a dict) receives, per failure line, the check's message, the curl line and the body."""
    failures: list[str] = []
    details = {} if details is None else details
    for result in schema.get_all_operations():
        operation = result.ok()
        if operations and not any(o in operation.label for o in operations):
            continue
        persona.operations += 1
        if progress := os.environ.get("FUZZ_PROGRESS"):  # one line per operation started
            with open(progress, "a") as out:
                out.write(f"{persona.name} {persona.operations} {operation.label} {persona.requests}\n")
        for mode in MODES:
            strategy = operation.as_strategy(generation_mode=mode)

            @settings(
                max_examples=n,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def fuzz(case):
                _call(case, persona, failures, details)

            try:
                fuzz()
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body): only positive cases
                pass
    return failures
