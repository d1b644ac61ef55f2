"""The secret scan (tests/secret_scan.py) can fail: deliberate leaks through each channel it watches are caught,
and what is shown once by design is exempt only in its place."""
from __future__ import annotations

import logging

import pytest
from channels.testing import HttpCommunicator
from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse
from django.test import Client
from django.urls import path
from rest_framework.test import APIClient

from catalog import services as catalog_services
from tests.factories import UserFactory
from tokens.services import token_create


def _echo(request):
    return HttpResponse(request.GET.get("say", ""))


urlpatterns = [path("echo/", _echo)]


async def _echo_app(scope, receive, send):
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope["query_string"]})


def _caught(secret_scan) -> list[str]:
    findings = secret_scan.findings()
    secret_scan.forgive()  # the leak was on purpose: this test must not fail for it
    return findings


@pytest.fixture
def raw_token(owner) -> str:
    return token_create(user=owner, name="leak")[1]


@pytest.mark.urls(__name__)
def test_a_token_in_a_django_client_response_is_caught(secret_scan, raw_token):
    assert Client().get("/echo/", {"say": f"here: {raw_token}"}).status_code == 200
    findings = _caught(secret_scan)
    assert len(findings) == 1
    assert "API token plaintext" in findings[0] and "GET /echo/" in findings[0]
    assert raw_token not in findings[0], "the report must not repeat the secret"


@pytest.mark.urls(__name__)
def test_a_password_in_an_api_client_response_is_caught(secret_scan, db):
    get_wsgi_application()  # django.setup() again, as the schemathesis tests do: the scan must survive it
    UserFactory(email="pw@example.com", password="a-password-set-by-this-test")
    APIClient().get("/echo/", {"say": "a-password-set-by-this-test"})
    assert any("password" in finding for finding in _caught(secret_scan))


async def test_a_token_in_a_channels_communicator_message_is_caught(secret_scan, raw_token):
    communicator = HttpCommunicator(_echo_app, "GET", "/echo")
    communicator.scope["query_string"] = raw_token.encode()
    await communicator.get_response()
    assert any("ASGI message" in finding for finding in _caught(secret_scan))


def test_an_upstream_credential_in_a_log_record_is_caught(secret_scan, owner):
    catalog_services.upstream_create(
        owner=owner, name="leaky", url="http://127.0.0.1:9/mcp", auth_type="bearer",
        credentials={"token": "upstream-bearer-for-the-scan"},
    )
    logging.getLogger("gatehouse.test").warning("calling upstream with %s", "upstream-bearer-for-the-scan")
    findings = _caught(secret_scan)
    assert any("sealed value" in finding and "log record" in finding for finding in findings)


def test_settings_secrets_are_registered(secret_scan):
    kinds = set(secret_scan.secrets.values())
    assert {"SECRET_KEY", "GATEHOUSE_ENCRYPTION_KEYS", "GATEHOUSE_TOKEN_PEPPERS", "JWT signing key"} <= kinds


def test_token_creation_shows_its_plaintext_once_without_a_finding(secret_scan, owner):
    client = APIClient()
    client.force_authenticate(owner)
    response = client.post("/api/v1/tokens/", {"name": "shown once"}, format="json")
    assert response.status_code == 201 and response.json()["token"].startswith("gth_")
    assert secret_scan.findings() == []


def test_the_exemption_covers_only_the_token_field(secret_scan, owner, raw_token):
    client = APIClient()
    client.force_authenticate(owner)
    # The new token's name carries an older token: that is a leak even in the creation response.
    assert client.post("/api/v1/tokens/", {"name": raw_token}, format="json").status_code == 201
    findings = _caught(secret_scan)
    assert len(findings) == 1 and "POST /api/v1/tokens/ (201)" in findings[0]


@pytest.mark.secret_shown("this test shows one on purpose", where="GET /shown")
def test_the_secret_shown_marker_forgives_only_its_place(secret_scan, raw_token):
    secret_scan.capture("the response to GET /shown (200)", raw_token)
    secret_scan.capture("the response to GET /elsewhere (200)", raw_token)
    findings = secret_scan.findings(forgiven_where="GET /shown")
    assert len(findings) == 1 and "GET /elsewhere" in findings[0]
    secret_scan.forgive()
