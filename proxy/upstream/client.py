"""Opening an MCP client session to an upstream with the official SDK."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import Implementation

from catalog.snapshot import UpstreamTarget

CLIENT_INFO = Implementation(name="gatehouse", version="0.1.0")
# Upstream responses may stream for a long time (progress, slow tools); the per-call deadline is enforced by the
# caller, so the read timeout here only stops a dead connection from hanging forever.
STREAM_READ_TIMEOUT = 300.0


@asynccontextmanager
async def upstream_client(target: UpstreamTarget) -> AsyncIterator[Client]:
    """An initialized SDK client for ``target``; the era is detected (``server/discover``, else ``initialize``)."""
    headers = dict(target.headers)
    if target.transport == "sse":
        transport = sse_client(
            target.url, headers=headers, timeout=target.timeout_seconds, sse_read_timeout=STREAM_READ_TIMEOUT
        )
        async with Client(transport, mode="legacy", cache=None, client_info=CLIENT_INFO) as client:
            yield client
        return
    timeout = httpx2.Timeout(target.timeout_seconds, read=STREAM_READ_TIMEOUT)
    async with httpx2.AsyncClient(headers=headers, timeout=timeout) as http:
        transport = streamable_http_client(target.url, http_client=http)
        async with Client(transport, mode="auto", cache=None, client_info=CLIENT_INFO) as client:
            yield client
