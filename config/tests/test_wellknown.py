"""Well-known documents: robots.txt, security.txt (RFC 9116), protected-resource metadata (RFC 9728) and the MCP 401
that points at it."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from django.test import override_settings

from proxy.tests.conftest import Gateway


def test_robots_txt_disallows_everything_by_default(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.content.decode().splitlines() == ["User-agent: *", "Disallow: /"]


@override_settings(GATEHOUSE_ROBOTS_TXT="User-agent: *\\nAllow: /api/v1/docs/")
def test_robots_txt_is_configurable(client):
    assert client.get("/robots.txt").content.decode().splitlines() == ["User-agent: *", "Allow: /api/v1/docs/"]


def test_security_txt_is_absent_without_a_contact(client):
    assert client.get("/.well-known/security.txt").status_code == 404


@override_settings(SECURITY_TXT_CONTACTS=["mailto:security@example.com", "https://example.com/report"])
def test_security_txt_has_contacts_and_a_future_expiry(client):
    response = client.get("/.well-known/security.txt")
    assert response.status_code == 200
    fields = [line.split(": ", 1) for line in response.content.decode().splitlines()]
    assert ["Contact", "mailto:security@example.com"] in fields
    assert ["Contact", "https://example.com/report"] in fields
    expires = datetime.strptime(dict(fields)["Expires"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert 0 < (expires - datetime.now(timezone.utc)).days < 366
    assert dict(fields)["Canonical"].endswith("/.well-known/security.txt")


@override_settings(SECURITY_TXT_CONTACTS=["mailto:s@example.com"], SECURITY_TXT_EXPIRES="2027-06-30T00:00:00Z")
def test_security_txt_expiry_is_configurable(client):
    assert "Expires: 2027-06-30T00:00:00Z" in client.get("/.well-known/security.txt").content.decode()


@override_settings(
    GATEHOUSE_PUBLIC_URL="https://gatehouse.example.com", GATEHOUSE_AUTHORIZATION_SERVERS=["https://idp.example.com"]
)
def test_protected_resource_metadata_for_the_root_and_an_mcp_path(client):
    root = client.get("/.well-known/oauth-protected-resource").json()
    assert root["resource"] == "https://gatehouse.example.com"
    assert root["authorization_servers"] == ["https://idp.example.com"]
    assert root["bearer_methods_supported"] == ["header"]
    server = client.get("/.well-known/oauth-protected-resource/servers/demo/mcp").json()
    assert server["resource"] == "https://gatehouse.example.com/servers/demo/mcp"


def test_protected_resource_metadata_only_for_mcp_endpoints(client):
    assert client.get("/.well-known/oauth-protected-resource/admin/").status_code == 404
    assert client.get("/.well-known/oauth-protected-resource/servers/../../etc/mcp").status_code == 404


def test_well_known_documents_need_no_login(client):
    for path in ("/robots.txt", "/.well-known/oauth-protected-resource"):
        assert client.get(path).status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_mcp_401_points_at_the_resource_metadata(settings):
    settings.GATEHOUSE_PUBLIC_URL = "https://gatehouse.example.com"
    gateway = Gateway("/servers/demo/mcp", None)
    response = await gateway.send(gateway.request("tools/list"))
    assert response["status"] == 401
    challenge = response["headers"]["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'resource_metadata="https://gatehouse.example.com/.well-known/oauth-protected-resource"' in challenge
