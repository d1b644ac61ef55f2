"""Schemathesis against the management API's own OpenAPI schema (/api/v1/schema/, drf-spectacular), in process
through the WSGI app: every operation, as a superuser and as an ordinary user, must answer without a server error
and with a body that conforms to the schema.

Bounded: a few examples per operation (GATEHOUSE_FUZZ_SCALE multiplies them), derandomized for CI.
"""
from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from proxy.tests.fuzzing import examples
from tests.factories import UserFactory
from tokens.services import token_create

# Run once, against PostgreSQL (the production database) in CI's second pass; the SQLite-only overflow it once found
# has its own regression test (test_api_schemathesis_regressions.py).
pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="runs once, in the PostgreSQL pass",
)

CHECKS = [not_a_server_error, response_schema_conformance]
OPERATION_EXAMPLES = examples(5)


def _token(user) -> str:
    _, raw = token_create(user=user, name="schemathesis")
    return raw


@pytest.fixture
def wsgi_app(db):
    """The real WSGI handler; like Django's test client, it must not close the test transaction's connection at the
    end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(wsgi_app):
    from accounts.models import User

    admin = User.objects.create_superuser(email="fuzz-admin@example.com", password="fuzz-admin-password-1")
    token = _token(admin)
    return schemathesis.openapi.from_wsgi(
        "/api/v1/schema/?format=json", wsgi_app, headers={"Authorization": f"Bearer {token}"}
    )


@pytest.fixture
def superuser_token(db) -> str:
    from accounts.models import User

    return _token(User.objects.create_superuser(email="fuzz-root@example.com", password="fuzz-root-password-1"))


@pytest.fixture
def user_token(db) -> str:
    return _token(UserFactory(email="fuzz-user@example.com"))


def _failures(api_schema, token: str) -> list[str]:
    """Run every operation (valid and deliberately invalid requests) and collect what each check refuted."""
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        cases = st.one_of(*(operation.as_strategy(mode) for mode in GenerationMode))

        @given(case=cases)
        @settings(settings.get_profile("gatehouse"), max_examples=OPERATION_EXAMPLES)
        def run(case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every operation runs; all are reported
            failures.append(f"{operation.label}: {exc}")
    return failures


def test_every_operation_as_a_superuser(api_schema, superuser_token):
    failures = _failures(api_schema, superuser_token)
    assert not failures, "\n\n".join(failures)


def test_every_operation_as_an_ordinary_user(api_schema, user_token):
    failures = _failures(api_schema, user_token)
    assert not failures, "\n\n".join(failures)
