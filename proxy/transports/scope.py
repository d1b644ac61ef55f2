"""What every MCP consumer reads from its ASGI scope, and the dispatch they share."""
from __future__ import annotations

from channels.consumer import get_handler_name


def scope_headers(scope: dict) -> dict[str, str]:
    # Values are trimmed: HTTP allows optional whitespace around them, and some servers (httptools) keep it.
    return {name.decode("latin-1").lower(): value.decode("latin-1").strip() for name, value in scope["headers"]}


def scope_server_slug(scope: dict) -> str:
    """The virtual server named in the path; the aggregate endpoints have none (catalog's AGGREGATE_SLUG)."""
    return scope["url_route"]["kwargs"].get("slug", "")


class DirectDispatch:
    """Dispatch without Channels' stale-connection sweep before every message.

    The base class closes stale database connections before each message (a thread hop per message); the warm path
    touches no database, and cold paths go through database_sync_to_async, which does it itself.
    """

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
