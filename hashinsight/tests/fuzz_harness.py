"""Schemathesis over the product's own OpenAPI schema, in process (issue 18, docs/TESTING.md).

Every operation of /api/schema/ is called through the WSGI app with the real test database, as one
persona at a time; each generated case runs inside a savepoint that is rolled back, so a case
cannot leave state for the next. `run_persona` returns one line per failure (operation, persona,
check, the request as curl) so one run names every disagreement between schema and server.

Examples per operation: FUZZ_EXAMPLES (environment; `make fuzz` sets a large one). Hypothesis runs
derandomized with no deadline and no example database: the same commit fuzzes the same requests."""

import os
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


class _Rollback(Exception):
    pass


def _call(case, persona: Persona, failures: list[str], details: dict) -> None:
    try:
        with transaction.atomic():
            response = case.call(headers=persona.headers)
            try:
                case.validate_response(response, checks=CHECKS)
            except (AssertionError, BaseExceptionGroup) as exc:  # a FailureGroup: every failed check of the case
                for failure in getattr(exc, "exceptions", [exc]):
                    title = getattr(failure, "title", type(failure).__name__)
                    line = f"{persona.name} {case.operation.label} [{response.status_code}] {title}"
                    if line not in failures:
                        failures.append(line)
                        details.setdefault(line, f"{failure}\n{case.as_curl_command()}\n{response.text[:300]}")
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
