"""schemathesis against the app's OpenAPI document: every operation, once per role (admin,
shequ, wangge, viewer, auditor and nobody signed in), over real HTTP.

Checked on every answer: never a 5xx; the status is one the operation documents; the body and
the headers match what it documents for that status (the errors too: ``Problem``); a request
that breaks the document (a wrong type, a missing field, an undeclared body field, a value out
of range) is refused with a 4xx.

Choices:

- Where. The calls change data (cases, grids, visits, courses, categories, API keys, audit rows,
  the per-address sign-in and report counters), so they go to a database of this module's own,
  ``gisgrid_fuzz``, with the demo loaded into it, behind its own server: the demo database and
  the scratch database the other files share see none of it.
- The document is the app's own (``create_app(...).openapi()``), read at collection so every
  operation is a test of its own; ``test_the_served_document_is_the_one_tested`` checks the
  server gives out the same one.
- Sign-out would end the session the rest of a role's calls use: it signs out a session opened
  for the call. Everything else runs with the role's one token; a wrong current password on
  ``/auth/password`` changes nothing and a random second-factor code never confirms one.
- Cost (CI has 2 cores): per role, the explicit examples and ``MAX_EXAMPLES`` generated cases
  (valid and invalid) per operation, derandomized and without shrinking; the coverage phase
  (boundary values and every kind of malformed input, a few thousand requests) runs once, as the
  administrator, whom no operation refuses before reading the input. No stateful phase.
- Not checked: that a schema-valid request is accepted (a code that names no grid, a shape
  outside its parent are 404/422 by design), and the ``Allow`` header of a 405 (Starlette lists
  the methods of the first route matching the path only, e.g. ``POST /visits`` without ``GET``).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
import pytest
import schemathesis
from conftest import fresh_database, serve
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from sqlalchemy import create_engine, text

from gisgrid.demo.accounts import PASSWORDS

ROLES = [*PASSWORDS, "anonymous"]
MAX_EXAMPLES = 10


def _config(phase: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "no-shrink": True,
                       # an unknown header or query parameter is ignored, as HTTP has it; an
                       # undeclared body field is still sent, and must be refused
                       "allow-extra-parameters": False},
        "phases": {"examples": {"enabled": phase == "generated"}, "fuzzing": {"enabled": phase == "generated"},
                   "coverage": {"enabled": phase == "coverage"}, "stateful": {"enabled": False}},
        "checks": {"positive_data_acceptance": {"enabled": False}, "allow_header_conformance": {"enabled": False}},
        "request-timeout": 120,
    })


def _document() -> dict:
    """The app's OpenAPI document; making the app opens no connection."""
    from gisgrid.web.app import create_app

    return create_app(create_engine("postgresql+psycopg://")).openapi()


DOCUMENT = _document()
GENERATED = schemathesis.openapi.from_dict(DOCUMENT, config=_config("generated"))
COVERAGE = schemathesis.openapi.from_dict(DOCUMENT, config=_config("coverage"))
QUICK = settings(deadline=None, derandomize=True, database=None, print_blob=False,
                 suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="session")
def fuzz_engine(database_url, demo):
    """A database of its own, migrated, with the demo loaded."""
    from gisgrid.core.database import engine_for
    from gisgrid.demo.loader import load

    engine = engine_for(fresh_database(database_url, "gisgrid_fuzz"))
    load(engine, demo, progress=False)
    return engine


@pytest.fixture(scope="session")
def fuzz_server(fuzz_engine):
    with serve(fuzz_engine) as url:
        yield url


def _session(engine, name: str) -> dict:
    """A session of the demo account ``name``, opened in the database: the calls' failed sign-ins
    soon trip the per-address limit of ``/auth/sign-in``."""
    from sqlalchemy.orm import Session

    from gisgrid.auth.service import sign_in

    with Session(engine) as db:
        signed = sign_in(db, username=name, password=PASSWORDS[name], code=None, client_addr=None,
                         now=datetime.now(UTC))
        db.commit()
    return {"Authorization": f"Bearer {signed.token}"}


@pytest.fixture(scope="session")
def fuzz_tokens(fuzz_engine):
    return {name: _session(fuzz_engine, name) for name in PASSWORDS}


def test_the_served_document_is_the_one_tested(fuzz_server):
    assert httpx.get(f"{fuzz_server}/openapi.json", timeout=30).json() == DOCUMENT


@GENERATED.parametrize()
@pytest.mark.parametrize("role", ROLES)
@QUICK
def test_every_operation_for_every_role(case, role, fuzz_tokens, fuzz_server, fuzz_engine):
    headers = fuzz_tokens.get(role, {})
    if case.operation.path == "/auth/sign-out" and headers:
        headers = _session(fuzz_engine, role)
    case.call_and_validate(base_url=fuzz_server, headers=headers)


@COVERAGE.parametrize()
@QUICK
def test_malformed_input_is_refused(case, fuzz_tokens, fuzz_server, fuzz_engine):
    headers = _session(fuzz_engine, "admin") if case.operation.path == "/auth/sign-out" else fuzz_tokens["admin"]
    case.call_and_validate(base_url=fuzz_server, headers=headers)


# --- what the runs above found, pinned ---------------------------------------------------------

def test_every_error_status_is_documented_with_the_problem_body():
    problem = {"$ref": "#/components/schemas/Problem"}
    assert "HTTPValidationError" not in DOCUMENT["components"]["schemas"]
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if status.startswith("4"):
                    assert answer["content"]["application/json"]["schema"] == problem, (method, path, status)
            if path.startswith(("/auth/", "/public/", "/health", "/case-categories", "/report", "/track")):
                continue
            assert {"401", "403"} <= set(operation["responses"]), (method, path)


@pytest.mark.parametrize(("path", "where"), [
    ("/residents?offset=1000000000000000000000", "query.offset"),  # was a 500: OFFSET out of bigint range
    ("/cases?to=20260102", "query.to"),  # was 1970-08-24: a number read as a Unix time
    ("/visits?from=0", "query.from"),
    ("/grids?as_of=0.5", "query.as_of"),
    ("/reports/assessment?from=0&to=2026-10-31", "query.from"),
])
def test_numbers_are_not_dates_and_offsets_stay_in_range(fuzz_server, fuzz_tokens, path, where):
    answer = httpx.get(fuzz_server + path, headers=fuzz_tokens["admin"], timeout=30)
    assert answer.status_code == 422, answer.text
    assert answer.json()["where"] == where, answer.text


def test_a_body_that_is_not_utf8_is_invalid_input_not_a_bare_400(fuzz_server, fuzz_tokens):
    answer = httpx.post(f"{fuzz_server}/visits", content=b'{"note": "\xff\xfe"}', timeout=30,
                        headers={**fuzz_tokens["admin"], "Content-Type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["where"] == "body"


def test_an_api_key_expiry_is_a_date_time_not_a_number(fuzz_server, fuzz_tokens):
    answer = httpx.post(f"{fuzz_server}/auth/api-keys", headers=fuzz_tokens["admin"], timeout=30,
                        json={"account_id": 1, "name": "fuzz", "expires_at": 0})
    assert answer.status_code == 422
    assert answer.json()["where"] == "body.expires_at"


def test_a_refused_reveal_with_nul_in_its_reason_is_refused_and_on_record(fuzz_server, fuzz_tokens, fuzz_engine):
    """Was a 500: the refusal's audit row could not hold NUL, and the refusal was lost with it."""
    reason = "need\x00it " + base64.b16encode(b"fuzz").decode()
    answer = httpx.post(f"{fuzz_server}/residents/1/reveal", headers=fuzz_tokens["viewer"], timeout=30,
                        json={"field": "phone", "reason": reason})
    assert answer.status_code == 403
    with fuzz_engine.connect() as conn:
        kept = conn.execute(text("SELECT detail->>'reason' FROM audit_log WHERE action = 'reveal' AND actor = 'viewer' "
                                 "AND outcome = 'refused' ORDER BY id DESC LIMIT 1")).scalar_one()
    assert kept == reason.replace("\x00", "\ufffd")
