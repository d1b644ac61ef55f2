"""Probing an upstream: open an MCP session with the SDK client (initialize or server/discover) and ping it.
Network only: no database here."""
from __future__ import annotations

import asyncio
import time

from catalog.snapshot import UpstreamTarget
from proxy.protocol.versions import HANDSHAKE_VERSIONS


async def probe(target: UpstreamTarget, timeout: float) -> float:
    """Seconds the handshake and a ping took; raises on any failure, TimeoutError past ``timeout``."""
    from proxy.upstream.client import upstream_client
    from proxy.upstream.oauth import upstream_authorization_ready

    started = time.perf_counter()
    if target.transport == "rest":
        return await _rest_probe(target, timeout, started)
    async with asyncio.timeout(timeout):
        # An OAuth upstream: a token first (the owner's connection for oauth_user), or a clear reason why not.
        await upstream_authorization_ready(target)
        async with upstream_client(target) as client:
            # A stateless-era upstream (2026-07-28 on) has no ping: its server/discover answer, needed to open the
            # client, is the proof of life. A handshake-era upstream is pinged after initialize.
            if client.protocol_version in HANDSHAKE_VERSIONS:
                await client.send_ping()
    return time.perf_counter() - started


async def _rest_probe(target: UpstreamTarget, timeout: float, started: float) -> float:
    """A REST API has no ping: any HTTP answer to its base URL (even 404) proves it is reachable."""
    from config.egress import egress_async_client

    async with asyncio.timeout(timeout):
        async with egress_async_client() as client:
            await client.head(target.url, headers=dict(target.headers))
    return time.perf_counter() - started
