"""``subscriptions/listen`` end to end: Gatehouse as a real server process, the conformance fixture as a real
upstream process, and the official SDK client in 2026-07-28 mode (``Client.listen``)."""
from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from mcp.shared.subscriptions import ResourceUpdated, ToolsListChanged

from catalog import services as catalog_services
from catalog.models import Tool
from tests.mcp_clients import sdk_client
from tests.published import upstream_published

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
async def watched(conformance_upstream, gateway):
    return await sync_to_async(upstream_published)(
        email="listen-e2e@example.com", url=conformance_upstream.url, name="conf", server_slug="watched-e2e",
        everything=True, timeout_seconds=10,
    )


async def test_sdk_client_hears_resource_updates_and_list_changes(watched, gateway):
    # ``auto`` probes server/discover (a pinned mode adopts the version without learning the capabilities).
    async with sdk_client(f"{gateway}/servers/watched-e2e/mcp", watched.token, mode="auto") as client:
        assert client.protocol_version == "2026-07-28"
        assert client.server_capabilities.tools.list_changed is True
        assert client.server_capabilities.resources.subscribe is True
        async with client.listen(tools_list_changed=True, resource_subscriptions=["test://watched-resource"]) as sub:
            assert sub.honored.tools_list_changed is True
            assert sub.honored.resource_subscriptions == ["test://watched-resource"]
            await client.call_tool("conf__test_trigger_resource_update", {})
            async with asyncio.timeout(10):
                assert await anext(sub) == ResourceUpdated(uri="test://watched-resource")
            tool = await Tool.objects.aget(exposed_name="conf__test_simple_text")
            await sync_to_async(catalog_services.catalog_entry_update)(entry=tool, actor=watched.owner, enabled=False)
            async with asyncio.timeout(10):
                assert await anext(sub) == ToolsListChanged()
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "conf__test_simple_text" not in names
