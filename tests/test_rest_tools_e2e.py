"""End to end: a real REST API process, Gatehouse as a real server process with REST tools on, the MCP SDK client."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from mcp.shared.exceptions import MCPError

from catalog import services as catalog_services
from tests.factories import UserFactory
from tests.mcp_clients import sdk_client
from tests.processes import ROOT, free_port, gatehouse_server, running
from tokens import services as token_services

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCHEMA = {"type": "object", "properties": {"id": {"type": "string"}, "q": {"type": "string"}}, "required": ["id"]}


@pytest.fixture(scope="module")
def rest_api():
    port = free_port()
    with running([sys.executable, str(ROOT / "tests" / "fixtures" / "rest_server.py"), "--port", str(port)], port):
        yield f"http://127.0.0.1:{port}/api"


@pytest.fixture(scope="module")
def rest_gateway(django_db_setup, django_db_blocker, tmp_path_factory):
    from django.db import connection

    log = Path(tmp_path_factory.mktemp("rest-gateway")) / "gateway.log"
    with gatehouse_server(connection.settings_dict, log, {"GATEHOUSE_REST_TOOLS": "true"}) as base_url:
        yield base_url


def _published(url: str, settings) -> str:
    settings.GATEHOUSE_REST_TOOLS = True
    owner = UserFactory(email="rest-e2e@example.com")
    upstream = catalog_services.upstream_create(owner=owner, name="items", url=url, transport="rest")
    tools = [
        catalog_services.rest_tool_define(upstream=upstream, name="get_item", path="/echo/items/{id}", query=["q"],
                                          input_schema=SCHEMA),
        catalog_services.rest_tool_define(upstream=upstream, name="missing", path="/missing"),
    ]
    catalog_services.server_create(owner=owner, slug="rest-e2e", tools=[(tool, "") for tool in tools])
    return token_services.token_create(user=owner, name="rest-e2e")[1]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_sdk_client_calls_rest_tools_through_gatehouse(rest_api, rest_gateway, settings, mode):
    token = await sync_to_async(_published)(rest_api, settings)
    async with sdk_client(f"{rest_gateway}/servers/rest-e2e/mcp", token, mode=mode) as client:
        listed = await client.list_tools()
        assert sorted(tool.name for tool in listed.tools) == ["items__get_item", "items__missing"]
        result = await client.call_tool("items__get_item", {"id": "42", "q": "blue"})
        assert result.is_error is False
        assert result.structured_content["path"] == "/api/echo/items/42"
        assert result.structured_content["query"] == [["q", "blue"]]
        missing = await client.call_tool("items__missing", {})
        assert missing.is_error is True and "HTTP 404" in missing.content[0].text
        with pytest.raises(MCPError) as invalid:
            await client.call_tool("items__get_item", {})
        assert invalid.value.error.code == -32602
