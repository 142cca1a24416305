"""Issue 18: schemathesis over /api/schema/, every operation, as each persona — anonymous, a
customer, a NOC operator, a collector token. 0 responses 5xx, 0 responses outside the schema, 0
schema-valid requests refused, 0 schema-invalid ones accepted (hashinsight/tests/fuzz_harness.py)."""

import os
import time

import pytest

from audit.services import Actor
from hashinsight.tests.fuzz_harness import Persona, examples, load_schema, run_persona
from tenants.personal_tokens import personal_token_create

pytestmark = pytest.mark.slow


def _bearer(user) -> dict:
    _, plaintext = personal_token_create(actor=Actor.system("test.fuzz"), user=user, name="fuzz", expires_in_days=1)
    return {"Authorization": f"Bearer {plaintext}"}


@pytest.fixture
def personas(world, customer_a, noc_x):
    return {
        "anonymous": Persona("anonymous"),
        "customer": Persona("customer", _bearer(customer_a)),
        "noc": Persona("noc", _bearer(noc_x)),
        "collector": Persona("collector", {"X-Collector-Key": world.token_x, "X-Site-ID": world.site_x.code}),
    }


@pytest.mark.parametrize("persona", ["anonymous", "customer", "noc", "collector"])
def test_every_operation_agrees_with_the_schema(persona, personas, settings):
    settings.COMMAND_BLAST_RADIUS_PCT = 100
    details: dict = {}
    started, who = time.monotonic(), personas[persona]
    operations = [o for o in os.environ.get("FUZZ_OPERATIONS", "").split(",") if o] or None  # make fuzz
    failures = run_persona(load_schema(), who, n=examples(), operations=operations, details=details)
    took = time.monotonic() - started
    print(
        f"fuzz {persona}: {who.operations} operations, {examples()} examples per mode, "
        f"{who.requests} requests, {took:.0f} s ({who.requests / max(took, 1e-9):.1f} requests/s; "
        f"server {who.seconds['call']:.0f} s, checks {who.seconds['check']:.0f} s, generation the rest), "
        f"{len(failures)} failures"
    )
    first = "\n\n".join(details[line] for line in failures[:3])
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures) + "\n\nFirst ones:\n" + first
