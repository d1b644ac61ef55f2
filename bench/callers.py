"""One MCP session per transport, reduced to what the benchmark needs: open it, call ``echo`` once per ``call()``.

Each opener is an async context manager yielding a ``Caller``; ``call()`` returns None on success or a short error
text. The SDK client is used where it speaks the transport (Streamable HTTP JSON, legacy HTTP+SSE); the Streamable
HTTP SSE and WebSocket callers are small raw clients, because the SDK client always offers JSON in ``Accept`` and
has no WebSocket transport. The raw clients check the wire format on every call, so a figure labelled SSE cannot
silently measure JSON.
"""
from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import httpx2
import mcp
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from websockets.asyncio.client import connect as websocket_connect

TOOL = "echo"
ARGUMENTS = {"text": "hello"}
PROTOCOL_VERSION = "2025-11-25"
EVENT_STREAM = "text/event-stream"
BOTH = f"application/json, {EVENT_STREAM}"
TIMEOUT = 30.0


class Caller(Protocol):
    async def call(self) -> str | None: ...


def tool_error(result: dict[str, Any]) -> str | None:
    if result.get("isError"):
        return f"tool error: {result.get('content')!r}"[:500]
    return None


class SdkCaller:
    def __init__(self, client: mcp.Client) -> None:
        self.client = client

    async def call(self) -> str | None:
        reply = await self.client.call_tool(TOOL, ARGUMENTS)
        return f"tool error: {reply.content!r}"[:500] if reply.is_error else None


@asynccontextmanager
async def streamable_json(url: str, headers: dict[str, str], mode: str) -> AsyncIterator[Caller]:
    """The SDK client over Streamable HTTP (it sends ``Accept: application/json, text/event-stream``)."""
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(TIMEOUT)) as http:
        async with mcp.Client(streamable_http_client(url, http_client=http), mode=mode, cache=None) as client:
            yield SdkCaller(client)


@asynccontextmanager
async def legacy_sse(url: str, headers: dict[str, str], mode: str) -> AsyncIterator[Caller]:
    """The SDK client over the 2024-11-05 HTTP+SSE transport (GET the stream, POST to the endpoint event's URI)."""
    async with mcp.Client(sse_client(url, headers=headers, timeout=TIMEOUT), mode="legacy", cache=None) as client:
        yield SdkCaller(client)


def initialize_message(request_id: int) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0", "id": request_id, "method": "initialize",
        "params": {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                   "clientInfo": {"name": "gatehouse-bench", "version": "1"}},
    }


def call_message(request_id: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": TOOL, "arguments": ARGUMENTS}}


INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def sse_messages(body: str) -> list[dict[str, Any]]:
    """The JSON-RPC messages of an SSE body (``data:`` lines, one event per blank-line-separated block)."""
    messages = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(line[5:].lstrip(" ") for line in block.split("\n") if line.startswith("data:"))
        if data:
            messages.append(json.loads(data))
    return messages


class RawSseCaller:
    """Streamable HTTP where every POST is answered as an SSE stream; the response to our id ends the call."""

    def __init__(self, http: httpx2.AsyncClient, url: str, accept: str) -> None:
        self.http, self.url, self.accept = http, url, accept
        self.ids = itertools.count(1)
        self.session_headers: dict[str, str] = {}

    async def post(self, message: dict[str, Any]) -> dict[str, Any] | None:
        headers = {"Accept": self.accept, "Content-Type": "application/json", **self.session_headers}
        response = await self.http.post(self.url, content=json.dumps(message), headers=headers)
        if "mcp-session-id" in response.headers:
            self.session_headers.setdefault("Mcp-Session-Id", response.headers["mcp-session-id"])
        if "id" not in message:
            if response.status_code != 202:
                raise RuntimeError(f"notification answered {response.status_code}")
            return None
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        content_type = response.headers.get("content-type", "")
        if not content_type.startswith(EVENT_STREAM):
            raise RuntimeError(f"expected an SSE response, got {content_type!r}")
        for reply in sse_messages(response.text):
            if reply.get("id") == message["id"]:
                return reply
        raise RuntimeError("the SSE stream ended without the response")

    async def open(self) -> None:
        reply = await self.post(initialize_message(next(self.ids)))
        if "result" not in reply:
            raise RuntimeError(f"initialize failed: {reply}")
        self.session_headers["MCP-Protocol-Version"] = reply["result"]["protocolVersion"]
        await self.post(INITIALIZED)

    async def call(self) -> str | None:
        reply = await self.post(call_message(next(self.ids)))
        if "result" not in reply:
            return f"JSON-RPC error: {reply.get('error')!r}"[:500]
        return tool_error(reply["result"])

    async def close(self) -> None:
        if "Mcp-Session-Id" in self.session_headers:
            await self.http.delete(self.url, headers=self.session_headers)


@asynccontextmanager
async def streamable_sse(url: str, headers: dict[str, str], mode: str, *, accept: str) -> AsyncIterator[Caller]:
    """A raw handshake-era client whose POSTs offer ``accept``; every answer must be ``text/event-stream``."""
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(TIMEOUT)) as http:
        caller = RawSseCaller(http, url, accept)
        await caller.open()
        try:
            yield caller
        finally:
            await caller.close()


class WebsocketCaller:
    """JSON-RPC text frames on one connection; frames other than our response (notifications) are skipped."""

    def __init__(self, socket) -> None:
        self.socket = socket
        self.ids = itertools.count(1)

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        await self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(await self.socket.recv())
            if reply.get("id") == message["id"] and "method" not in reply:
                return reply

    async def open(self) -> None:
        reply = await self.request(initialize_message(next(self.ids)))
        if "result" not in reply:
            raise RuntimeError(f"initialize failed: {reply}")
        await self.socket.send(json.dumps(INITIALIZED))

    async def call(self) -> str | None:
        reply = await self.request(call_message(next(self.ids)))
        if "result" not in reply:
            return f"JSON-RPC error: {reply.get('error')!r}"[:500]
        return tool_error(reply["result"])


@asynccontextmanager
async def websocket(url: str, headers: dict[str, str], mode: str) -> AsyncIterator[Caller]:
    """The gateway's WebSocket transport: subprotocol ``mcp``, the token in the ``Authorization`` header."""
    async with websocket_connect(
        url, subprotocols=["mcp"], additional_headers=headers, open_timeout=TIMEOUT, max_size=2**20,
    ) as socket:
        if socket.subprotocol != "mcp":
            raise RuntimeError(f"the server chose subprotocol {socket.subprotocol!r}")
        caller = WebsocketCaller(socket)
        await caller.open()
        yield caller
