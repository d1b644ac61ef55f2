"""ASGI lifespan: close pooled upstream sessions when the server shuts down."""
from __future__ import annotations

from proxy.upstream.pool import upstream_pool_close


async def lifespan_app(scope, receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await upstream_pool_close()
            await send({"type": "lifespan.shutdown.complete"})
            return
