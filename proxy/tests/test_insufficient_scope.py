"""insufficient_scope: a valid credential whose scope excludes MCP use gets 403 with the Bearer challenge naming the
scope it needs; a forbidden object still looks missing; the API answers a scope gap with a clear 403."""
from __future__ import annotations

import pytest
from django.test import Client

from proxy.tests.conftest import Gateway
from tokens import services as token_services

PUBLIC_URL = "https://gatehouse.test"


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.GATEHOUSE_PUBLIC_URL = PUBLIC_URL


def _token(catalog, permissions: list[str]) -> str:
    return token_services.token_create(user=catalog["owner"], name="-".join(permissions), permissions=permissions)[1]


@pytest.fixture
def tools_only(catalog) -> str:
    """A token that may read and call tools but not use MCP servers at all."""
    return _token(catalog, ["tools.read", "tools.execute"])


@pytest.fixture
def no_execute(catalog) -> str:
    return _token(catalog, ["servers.use", "tools.read"])


def _assert_insufficient_scope(response: dict) -> None:
    assert response["status"] == 403
    challenge = response["headers"]["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="insufficient_scope"' in challenge and 'scope="mcp"' in challenge
    assert f'resource_metadata="{PUBLIC_URL}/.well-known/oauth-protected-resource"' in challenge
    assert "servers.use" in response["json"]["error"]["message"]


async def test_a_token_without_mcp_use_gets_insufficient_scope(tools_only, closed_pool):
    gateway = Gateway("/servers/demo/mcp", tools_only)
    _assert_insufficient_scope(await gateway.initialize())


async def test_insufficient_scope_is_answered_before_the_server_is_looked_up(tools_only, closed_pool):
    gateway = Gateway("/servers/no-such-server/mcp", tools_only)
    _assert_insufficient_scope(await gateway.initialize())


async def test_a_token_with_mcp_use_but_not_the_tool_gets_unknown_tool(no_execute, closed_pool):
    gateway = Gateway("/servers/demo/mcp", no_execute)
    assert (await gateway.initialize())["status"] == 200
    response = await gateway.send(gateway.request("tools/call", {"name": "fixture__echo", "arguments": {"text": "x"}}))
    assert response["status"] == 200
    assert response["json"]["error"]["message"] == "Unknown tool: fixture__echo"


async def test_an_unscoped_token_still_works(gateway):
    assert (await gateway.initialize())["status"] == 200


async def test_legacy_sse_messages_get_insufficient_scope(tools_only, closed_pool):
    gateway = Gateway("/servers/demo/messages/?session_id=whatever", tools_only)
    response = await gateway.send(gateway.request("ping"))
    _assert_insufficient_scope(response)


@pytest.mark.django_db
def test_the_api_names_the_missing_permission(catalog):
    token = _token(catalog, ["servers.use", "servers.read"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/servers/").status_code == 200
    refused = client.get("/api/v1/upstreams/")
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope" and refused.json()["scope"] == "upstreams.read"
    assert "upstreams.read" in refused.json()["detail"]
