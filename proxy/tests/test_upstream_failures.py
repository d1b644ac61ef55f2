"""Upstreams that misbehave: the caller gets a JSON-RPC error naming the upstream, never a hang."""
from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from catalog import services as catalog_services
from catalog.models import Tool
from proxy.tests.conftest import Gateway
from tests.factories import UpstreamFactory, UserFactory
from tests.processes import free_port
from tokens import services as token_services

pytestmark = pytest.mark.django_db(transaction=True)


def _catalog_with_tool_at(url: str, *, timeout_seconds: int) -> str:
    owner = UserFactory(email="failures@example.com")
    upstream = UpstreamFactory(owner=owner, name="mute", slug="mute", url=url, timeout_seconds=timeout_seconds)
    tool = Tool.objects.create(
        upstream=upstream, owner=owner, original_name="echo", exposed_name="mute__echo", input_schema='{"type":"object"}'
    )
    catalog_services.server_create(owner=owner, slug="mute", tools=[(tool, "")])
    return token_services.token_create(user=owner, name="failures")[1]


async def test_upstream_that_accepts_but_never_answers_times_out(closed_pool):
    async def swallow(reader, writer):
        await asyncio.sleep(30)

    port = free_port()
    server = await asyncio.start_server(swallow, "127.0.0.1", port)
    try:
        token = await sync_to_async(_catalog_with_tool_at)(f"http://127.0.0.1:{port}/mcp", timeout_seconds=1)
        gateway = Gateway("/servers/mute/mcp", token)
        await gateway.initialize()
        started = time.monotonic()
        response = await gateway.send(gateway.request("tools/call", {"name": "mute__echo", "arguments": {}}))
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert response["json"]["error"]["code"] == -32001
    assert "'mute'" in response["json"]["error"]["message"]
    assert elapsed < 5


async def test_unreachable_upstream_is_unavailable_naming_it(closed_pool):
    token = await sync_to_async(_catalog_with_tool_at)(f"http://127.0.0.1:{free_port()}/mcp", timeout_seconds=2)
    gateway = Gateway("/servers/mute/mcp", token)
    await gateway.initialize()
    response = await gateway.send(gateway.request("tools/call", {"name": "mute__echo", "arguments": {}}))
    assert response["json"]["error"]["code"] == -32000
    assert response["json"]["error"]["message"] == "Upstream 'mute' is unavailable."
