"""Opening an MCP client session to an upstream with the official SDK."""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import Implementation

from catalog.snapshot import UpstreamTarget
from config.egress import egress_async_client, egress_client_factory
from proxy.upstream.keepalive import UpstreamTransport
from proxy.upstream.oauth import upstream_auth
from proxy.upstream.via import via_value

CLIENT_INFO = Implementation(name="gatehouse", version="0.1.0")
# Upstream responses may stream for a long time (progress, slow tools); the per-call deadline is enforced by the
# caller, so the read timeout here only stops a dead connection from hanging forever.
STREAM_READ_TIMEOUT = 300.0


@asynccontextmanager
async def _stderr_to_log(target: UpstreamTarget):
    """A pipe whose lines land in the log as ``gatehouse.stdio.<slug>``; the child process writes its stderr there."""
    logger = logging.getLogger(f"gatehouse.stdio.{target.slug}")
    read_fd, write_fd = os.pipe()
    reader, writer = os.fdopen(read_fd, "r", errors="replace"), os.fdopen(write_fd, "w")

    def forward() -> None:
        with reader:
            for line in reader:
                logger.info("%s", line.rstrip())

    threading.Thread(target=forward, name=f"stdio-stderr:{target.slug}", daemon=True).start()
    try:
        yield writer
    finally:
        writer.close()


@asynccontextmanager
async def upstream_client(target: UpstreamTarget, options: dict[str, Any] | None = None) -> AsyncIterator[Client]:
    """An initialized SDK client for ``target``; over HTTP the era is detected (``server/discover``, else
    ``initialize``) unless ``options`` pin ``mode``. A stdio command runs in its own process group, terminated with
    the session (SDK behaviour). ``options`` are ``mcp.Client`` keyword arguments (callbacks for the upstream's
    server→client traffic, ``mode``)."""
    options = {"mode": "auto", "cache": None, "client_info": CLIENT_INFO, **(options or {})}
    if target.transport == "stdio":
        parameters = StdioServerParameters(command=target.command, args=list(target.args), env=dict(target.env) or None)
        async with _stderr_to_log(target) as errlog:
            async with Client(stdio_client(parameters, errlog=errlog), **options) as client:
                yield client
        return
    headers = {**dict(target.headers), "Via": via_value()}  # federation loop detection (proxy.upstream.via)
    if target.transport == "sse":
        transport = sse_client(
            target.url, headers=headers, timeout=target.timeout_seconds, sse_read_timeout=STREAM_READ_TIMEOUT,
            httpx_client_factory=egress_client_factory,  # SSRF guard on every connection
            auth=upstream_auth(target),
        )
        async with Client(transport, **{**options, "mode": "legacy"}) as client:
            yield client
        return
    timeout = httpx2.Timeout(target.timeout_seconds, read=STREAM_READ_TIMEOUT)
    # SSRF guard on every connection; streamed answers read to their end so connections are reused.
    async with egress_async_client(
        transport=UpstreamTransport(), headers=headers, timeout=timeout, auth=upstream_auth(target),
    ) as http:
        transport = streamable_http_client(target.url, http_client=http)
        async with Client(transport, **options) as client:
            yield client
