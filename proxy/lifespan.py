"""ASGI lifespan: at startup, hook the server's shutdown signals so event streams end with a reconnect hint
(config.draining); when the server shuts down, write buffered token usage and captured traffic, and close pooled
upstream sessions and REST clients."""
from __future__ import annotations

import asyncio

from audit.capture import capture_flush
from config.draining import draining_install
from proxy.upstream.pool import upstream_pool_close
from proxy.upstream.rest import rest_clients_close
from tokens.usage import usage_flush


async def lifespan_app(scope, receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            draining_install()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await usage_flush()
            await asyncio.to_thread(capture_flush)
            await upstream_pool_close()
            await rest_clients_close()
            await send({"type": "lifespan.shutdown.complete"})
            return
