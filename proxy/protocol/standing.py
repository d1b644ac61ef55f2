"""The life of a standing stream (a Streamable HTTP GET stream, a legacy SSE stream, a WebSocket): while it is open
it re-checks its credential and session, tells its client when a list it can see changes, keeps idle proxies from
cutting it, and keeps its session reachable for messages relayed from any process."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from proxy import relay
from proxy.protocol.session_messages import Conversation, ConversationEnded, conversation_check
from proxy.protocol.watch import CatalogWatch
from proxy.snapshots import snapshot_for

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
Join = Callable[[str], Awaitable[None]]


async def standing_watch(
    conversation: Conversation, *, send: Send, keepalive: Callable[[], Awaitable[None]], join: Join
) -> str:
    """Run until the stream must end; returns why (revoked token, ended session, server gone).

    ``join(nonce)`` subscribes the stream to its session's channel-layer group, once the session exists (a WebSocket
    has one only after ``initialize``), and again on every keepalive: channels-redis forgets memberships after its
    group expiry.
    """
    watch: CatalogWatch | None = None
    joined: str | None = None
    last_keepalive = time.monotonic()
    while True:
        await asyncio.sleep(min(settings.GATEHOUSE_LIST_CHANGED_SECONDS, settings.GATEHOUSE_SSE_KEEPALIVE_SECONDS))
        try:
            version = await conversation_check(conversation)
        except ConversationEnded as ended:
            return str(ended)
        keepalive_due = time.monotonic() - last_keepalive >= settings.GATEHOUSE_SSE_KEEPALIVE_SECONDS
        session = conversation.session
        if session is not None and (joined != session.nonce or keepalive_due):
            await join(session.nonce)
            relay.standing_mark(session.nonce)
            joined = session.nonce
        if conversation.initialized:
            snapshot = await snapshot_for(conversation.principal, conversation.server_slug, version)
            if snapshot is None:
                return f"Unknown server: {conversation.server_slug}"
            if watch is None:
                watch = CatalogWatch(snapshot)
            for notification in watch.changes(snapshot):
                await send(notification)
        if keepalive_due:
            await keepalive()
            last_keepalive = time.monotonic()
