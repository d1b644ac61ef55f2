"""Traffic capture end to end: a real upstream process, Gatehouse as a real server process, real MCP clients on
every transport; rows are read back from the database the server process writes to."""
from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from mcp.shared.exceptions import MCPError

from audit.models import CapturedMessage
from catalog import services as catalog_services
from catalog.models import Tool
from tests.mcp_clients import sdk_client
from tests.published import upstream_published, upstream_registered
from tests.test_transports_e2e import _sse_client, _ws_client, needs_ts_sdk

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

API_KEY = "sk-live-" + "a1b2c3d4" * 4
BEARER = "Bearer " + "zq9" * 10


@pytest.fixture
async def demo(upstream_process, gateway):
    published = await sync_to_async(upstream_published)(
        email="capture-owner@example.com", url=upstream_process.url, server_slug="demo"
    )
    return {"server": published.server, "upstream": published.upstream, "token": published.token,
            "url": f"{gateway}/servers/demo/mcp", "owner": published.owner}


async def _capture_server(server, on: bool = True) -> None:
    await sync_to_async(catalog_services.server_update)(server=server, actor=None, capture_traffic=on)
    await _catalog_change_seen()


async def _catalog_change_seen() -> None:
    """Like any catalog change, the flag reaches a running gateway once its cached catalog version expires."""
    await asyncio.sleep(settings.GATEHOUSE_CATALOG_VERSION_TTL_SECONDS + 0.5)


async def _rows(minimum: int = 1, timeout: float = 15.0, **lookup) -> list[CapturedMessage]:
    """The captured rows matching ``lookup``, once at least ``minimum`` of them are written (the server process
    writes them in the background)."""
    query = sync_to_async(lambda: list(CapturedMessage.objects.filter(**lookup).order_by("id")))
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = await query()
        if len(rows) >= minimum or asyncio.get_running_loop().time() > deadline:
            return rows
        await asyncio.sleep(0.1)


@pytest.mark.parametrize(("mode", "era"), [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
async def test_captured_tool_call_has_measures_and_redacted_secrets(demo, mode, era):
    await _capture_server(demo["server"])
    async with sdk_client(demo["url"], demo["token"], mode=mode) as client:
        assert client.protocol_version == era
        text = f"call with Authorization: {BEARER} please"
        result = await client.call_tool("fixture__echo", {"text": text, "api_key": API_KEY})
        assert result.content[0].text == text

    request, reply = await _rows(2, method="tools/call", name="fixture__echo")
    assert (request.direction, reply.direction) == ("in", "out")
    assert request.server_slug == reply.server_slug == "demo"
    assert request.upstream_slug == "fixture"
    assert request.token_id is not None and request.user_id == demo["owner"].pk
    assert request.rpc_id == reply.rpc_id != ""
    assert request.request_bytes > 50 and reply.response_bytes > 50
    assert reply.duration_ms is not None and reply.error_code is None
    assert (request.session_digest != "") is (mode == "legacy")
    assert request.session_digest == reply.session_digest
    for row in (request, reply):
        assert API_KEY not in row.payload and "zq9zq9" not in row.payload
        assert "[REDACTED]" in row.payload
    assert json.loads(request.payload)["params"]["arguments"]["api_key"] == "[REDACTED]"
    assert await _rows(method="tools/list")


async def test_json_rpc_error_is_captured_with_its_code(demo):
    await _capture_server(demo["server"])
    async with sdk_client(demo["url"], demo["token"], mode="legacy") as client:
        with pytest.raises(MCPError):
            await client.call_tool("no_such_tool", {})
    (reply,) = await _rows(method="tools/call", name="no_such_tool", direction="out")
    assert reply.error_code == -32602
    assert "Unknown tool" in reply.payload


async def test_nothing_is_captured_while_capture_is_off(demo):
    async with sdk_client(demo["url"], demo["token"], mode="legacy") as client:
        await client.list_tools()
        await client.call_tool("fixture__echo", {"text": "not captured"})
    # The writer is first in, first out: once a later call's rows are written, earlier ones would have been too.
    await _capture_server(demo["server"])
    async with sdk_client(demo["url"], demo["token"], mode="legacy") as client:
        await client.call_tool("fixture__add", {"a": 1, "b": 2})
    assert await _rows(2, method="tools/call", name="fixture__add")
    rows = await sync_to_async(lambda: list(CapturedMessage.objects.values_list("name", flat=True)))()
    assert "fixture__echo" not in rows
    assert "not captured" not in "".join(await sync_to_async(
        lambda: list(CapturedMessage.objects.values_list("payload", flat=True)))())


async def test_capture_on_an_upstream_records_only_calls_routed_to_it(demo, upstream_process):
    def second_upstream_on_the_server():
        other = upstream_registered(demo["owner"], upstream_process.url, name="other", capture_traffic=True)
        tools = [(tool, "") for tool in Tool.objects.filter(upstream__in=[demo["upstream"], other])]
        catalog_services.server_update(server=demo["server"], actor=None, tools=tools)

    await sync_to_async(second_upstream_on_the_server)()
    await _catalog_change_seen()
    async with sdk_client(demo["url"], demo["token"], mode="legacy") as client:
        await client.list_tools()
        assert (await client.call_tool("fixture__echo", {"text": "plain"})).content[0].text == "plain"
        assert (await client.call_tool("other__echo", {"text": "captured"})).content[0].text == "captured"
    assert len(await _rows(2, name="other__echo")) == 2
    rows = await sync_to_async(lambda: list(CapturedMessage.objects.all()))()
    assert {(row.method, row.name, row.upstream_slug) for row in rows} == {("tools/call", "other__echo", "other")}


async def test_legacy_sse_transport_is_captured(demo, gateway):
    await _capture_server(demo["server"])
    async with _sse_client(f"{gateway}/servers/demo/sse", demo["token"]) as client:
        await client.call_tool("fixture__add", {"a": 2, "b": 40})
    request, reply = await _rows(2, method="tools/call", name="fixture__add")
    assert request.session_digest and request.session_digest == reply.session_digest
    assert json.loads(reply.payload)["result"]["structuredContent"] == {"result": 42}


@needs_ts_sdk
async def test_websocket_transport_is_captured(demo, gateway):
    await _capture_server(demo["server"])
    url = gateway.replace("http://", "ws://") + "/servers/demo/ws"
    completed = await sync_to_async(_ws_client, thread_sensitive=False)(
        url, demo["token"], GATEHOUSE_TOOL="fixture__echo", GATEHOUSE_TOOL_ARGS='{"text": "over websocket"}'
    )
    assert completed.returncode == 0, completed.stderr
    request, reply = await _rows(2, method="tools/call", name="fixture__echo")
    assert "over websocket" in reply.payload
    assert request.session_digest == reply.session_digest != ""


async def test_progress_streamed_during_a_call_is_captured_gateway_to_client(demo):
    await _capture_server(demo["server"])
    seen = []

    async def progress(value, total, message):
        seen.append(value)

    async with sdk_client(demo["url"], demo["token"], mode="legacy") as client:
        await client.call_tool("fixture__slow", {"seconds": 0.2}, progress_callback=progress)
    assert seen
    rows = await _rows(len(seen), method="notifications/progress")
    assert {row.direction for row in rows} == {"out"}
    assert {row.name for row in rows} == {"fixture__slow"}
    call = (await _rows(method="tools/call", name="fixture__slow", direction="in"))[0]
    assert {row.rpc_id for row in rows} == {call.rpc_id}
