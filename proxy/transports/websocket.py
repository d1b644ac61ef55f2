"""The WebSocket consumer: JSON-RPC text frames, one handshake-era session per connection. Framing only; protocol
decisions live in proxy.protocol.session_messages.

The token comes from the ``Authorization`` header or, for clients that cannot set headers (browsers, the TypeScript
SDK v1 ``WebSocketClientTransport``), from a ``bearer.<token>`` entry in ``Sec-WebSocket-Protocol`` — never from the
query string, which ends up in access logs. The bearer entry is never selected as the connection's subprotocol.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from proxy import relay
from proxy.protocol.jsonrpc import JsonRpcError, error_message, parse_message
from proxy.protocol.session_messages import ConversationRefused, conversation_open
from proxy.protocol.session_tasks import RequestTasks
from proxy.protocol.standing import standing_watch
from proxy.sessions import session_end
from proxy.upstream.pool import upstream_pool
from proxy.transports.http import encode_json
from proxy.transports.origin import origin_allowed
from proxy.transports.scope import DirectDispatch, scope_headers, scope_server_slug
from proxy.upstream.passthrough import incoming_headers

logger = logging.getLogger(__name__)

SUBPROTOCOL = "mcp"
BEARER_SUBPROTOCOL_PREFIX = "bearer."
ENDPOINT = "ws"

CLOSE_POLICY_VIOLATION = 1008
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_MESSAGE_TOO_BIG = 1009


def handshake_authorization(headers: Mapping[str, str], subprotocols: Sequence[str]) -> str | None:
    """The ``Authorization`` value the client presented, from the header or a ``bearer.<token>`` subprotocol.

    More than one credential is ambiguous and counts as none.
    """
    offered = [entry.removeprefix(BEARER_SUBPROTOCOL_PREFIX) for entry in subprotocols
               if entry.startswith(BEARER_SUBPROTOCOL_PREFIX)]
    header = headers.get("authorization")
    if len(offered) + (header is not None) > 1:
        return None
    return f"Bearer {offered[0]}" if offered else header


class McpWebsocketConsumer(DirectDispatch, AsyncWebsocketConsumer):
    """One connection, one conversation; what the gateway relays to its session arrives through the channel layer
    (the session's group, joined once ``initialize`` has opened the session)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.conversation = None
        self.tasks: RequestTasks | None = None
        self.watch: asyncio.Task | None = None
        self.group: str | None = None
        self.closed = False

    async def connect(self) -> None:
        headers = scope_headers(self.scope)
        if not origin_allowed(headers):
            await self._deny("Host or Origin is not allowed")
        subprotocols = self.scope.get("subprotocols") or []
        incoming_headers.set(headers)  # the handshake's headers, for header passthrough (proxy.upstream.passthrough)
        try:
            self.conversation = await conversation_open(
                server_slug=scope_server_slug(self.scope),
                authorization=handshake_authorization(headers, subprotocols),
                endpoint=ENDPOINT,
            )
        except ConversationRefused as refused:
            await self._deny(refused.reply.message["error"]["message"])
        self.conversation.protocol = "websocket"
        self.tasks = RequestTasks(self.conversation, deliver=self._deliver, end=self._end)
        await self.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in subprotocols else None)
        self.watch = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        try:
            reason = await standing_watch(self.conversation, send=self._deliver, keepalive=self._no_keepalive,
                                          join=self._join)
        except Exception:
            logger.exception("WebSocket watch failed; closing the connection")
            reason = "internal error"
        await self._end(reason)

    async def _no_keepalive(self) -> None:
        """WebSocket servers ping at the protocol level; nothing to add."""

    async def _join(self, nonce: str) -> None:
        self.group = relay.session_group(nonce)
        await self.channel_layer.group_add(self.group, self.channel_name)

    async def mcp_outbound(self, event) -> None:
        await self._deliver(event["message"])

    async def _deny(self, reason: str) -> None:
        """Refuse the handshake; the server answers it with 403.

        Not an HTTP denial response (which could say 401 with a Bearer challenge): uvicorn's default WebSocket
        implementation logs a spurious ERROR for each one (Kludex/uvicorn#3138), which an unauthenticated client
        could use to flood the error log.
        """
        logger.info("Refused a WebSocket handshake on %s: %s", self.scope["path"], reason)
        await self.close()
        raise StopConsumer()

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.closed or self.tasks is None:
            return
        if text_data is None:
            await self._close(CLOSE_UNSUPPORTED_DATA, "Binary frames are not supported: send JSON-RPC as text.")
            return
        limit = settings.GATEHOUSE_MCP_MAX_BODY_BYTES
        if len(text_data) > limit or len(text_data.encode()) > limit:
            await self._close(CLOSE_MESSAGE_TOO_BIG, f"Frames are limited to {limit} bytes.")
            return
        try:
            message = parse_message(text_data.encode())
        except JsonRpcError as exc:
            await self._deliver(error_message(None, exc))
            return
        await self.tasks.receive(message)

    async def _deliver(self, reply: dict) -> None:
        if self.closed:
            return
        try:
            await self.send(text_data=encode_json(reply).decode())
        except OSError:
            pass  # the client went away mid-reply; websocket_disconnect cleans up

    async def _end(self, reason: str) -> None:
        await self._close(CLOSE_POLICY_VIOLATION, reason)

    async def _close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            # A close reason is at most 123 bytes on the wire.
            await self.close(code, reason.encode()[:123].decode(errors="ignore"))

    async def disconnect(self, code) -> None:
        self.closed = True
        if self.watch is not None:
            self.watch.cancel()
            await asyncio.gather(self.watch, return_exceptions=True)
        if self.tasks is not None:
            await self.tasks.stop()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.conversation is not None and self.conversation.session is not None:
            nonce = self.conversation.session.nonce
            session_end(self.conversation.session)
            relay.standing_clear(nonce)
            upstream_pool().release_client_session(nonce)


class UnknownWebsocketPath(DirectDispatch, AsyncWebsocketConsumer):
    """Any other WebSocket path: refused at the handshake, rather than an unrouted-path error in the server log."""

    channel_layer_alias = None

    async def connect(self) -> None:
        await self.close()
        raise StopConsumer()

