"""Real MCP clients for tests: the official SDK client, and a raw HTTP client for wire-level checks."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

ACCEPT = "application/json, text/event-stream"


@asynccontextmanager
async def sdk_client(url: str, token: str | None, *, mode: str = "auto") -> AsyncIterator[Client]:
    """The official SDK client; ``auto`` negotiates the newest era the server offers, ``legacy`` forces initialize."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0)) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode, cache=None) as client:
            yield client


class RawSession:
    """A handshake-era session driven by hand, for asserting status codes and error bodies."""

    def __init__(self, http: httpx2.AsyncClient, url: str, token: str | None) -> None:
        self.http = http
        self.url = url
        self.headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.session_id: str | None = None
        self._next_id = 0

    async def post(self, body: bytes | dict | list, **headers: str) -> httpx2.Response:
        sent = {**self.headers, **({"Mcp-Session-Id": self.session_id} if self.session_id else {}), **headers}
        if isinstance(body, bytes):
            return await self.http.post(self.url, content=body, headers=sent)
        return await self.http.post(self.url, json=body, headers=sent)

    async def initialize(self) -> httpx2.Response:
        response = await self.post(self.request("initialize", {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "tests", "version": "1"},
        }))
        self.session_id = response.headers.get("mcp-session-id")
        return response

    def request(self, method: str, params: dict | None = None) -> dict:
        self._next_id += 1
        message = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            message["params"] = params
        return message


@asynccontextmanager
async def raw_session(url: str, token: str | None, *, initialize: bool = True) -> AsyncIterator[RawSession]:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as http:
        session = RawSession(http, url, token)
        if initialize:
            response = await session.initialize()
            assert response.status_code == 200, response.text
        yield session
