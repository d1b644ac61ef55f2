"""Legacy HTTP+SSE consumers: SSE framing and channel-layer plumbing only. Protocol decisions live in
proxy.protocol.legacy_sse and proxy.protocol.session_messages."""
from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qs

from channels import DEFAULT_CHANNEL_LAYER
from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer

from proxy import relay
from proxy.protocol import legacy_sse
from proxy.protocol.jsonrpc import JsonRpcError, parse_message
from proxy.protocol.session_messages import ConversationRefused
from proxy.protocol.session_tasks import RequestTasks
from proxy.protocol.standing import standing_watch
from proxy.protocol.streamable import McpReply, McpRequest
from proxy.sessions import session_end
from proxy.upstream.pool import upstream_pool
from proxy.transports.http import FORBIDDEN_HOST, McpHttpConsumer, encode_json, error_reply
from proxy.transports.origin import origin_allowed
from proxy.transports.scope import scope_server_slug
from proxy.upstream.passthrough import incoming_headers

logger = logging.getLogger(__name__)

STREAM_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
# Channel-layer message types: a client message for the stream's session, and the stream telling itself to stop.
MESSAGE_EVENT = "mcp.message"
END_EVENT = "mcp.stream.end"

# The streams this process holds, by session nonce: a POST for one of them is handed over in memory (the common case
# with one process, or a sticky balancer) instead of a channel-layer round trip, which costs a call ~2 ms.
_local_streams: dict[str, tuple[asyncio.AbstractEventLoop, LegacySseStreamConsumer]] = {}


def _local_stream(nonce: str) -> LegacySseStreamConsumer | None:
    held = _local_streams.get(nonce)
    if held is None or held[0] is not asyncio.get_running_loop():
        return None
    return held[1]


class LegacySseStreamConsumer(McpHttpConsumer):
    """``GET …/sse``: one session's stream. Its messages arrive through the session's channel-layer group."""

    channel_layer_alias = DEFAULT_CHANNEL_LAYER

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.conversation = None
        self.groups: set[str] = set()
        self.tasks: RequestTasks | None = None
        self.watch: asyncio.Task | None = None
        self.ended = False
        # Messages handed over in memory, answered one at a time in arrival order like the channel layer's.
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.inbox_reader: asyncio.Task | None = None

    async def http_request(self, message):
        if not message.get("more_body"):
            await self._open()

    async def _refuse(self, reply: McpReply) -> None:
        await self.send_reply(reply)
        raise StopConsumer()

    async def _open(self) -> None:
        headers = self.request_headers()
        if not origin_allowed(headers):
            await self._refuse(error_reply(403, FORBIDDEN_HOST))
        if self.scope["method"] != "GET":
            await self._refuse(McpReply(405, headers={"Allow": "GET"}))
        incoming_headers.set(headers)  # the stream's headers, for header passthrough (proxy.upstream.passthrough)
        try:
            self.conversation = await legacy_sse.stream_open(
                server_slug=scope_server_slug(self.scope), authorization=headers.get("authorization")
            )
        except ConversationRefused as refused:
            await self._refuse(refused.reply)
        session = self.conversation.session
        await self._join(session.nonce)
        relay.standing_mark(session.nonce)
        self.tasks = RequestTasks(self.conversation, deliver=self._deliver, end=self._end)
        await self.send_headers(status=200, headers=STREAM_HEADERS)
        uri = legacy_sse.messages_uri(
            root_path=self.scope.get("root_path", ""), server_slug=session.server_slug, session_id=session.id
        )
        await self.send_body(f"event: endpoint\ndata: {uri}\n\n".encode(), more_body=True)
        self.watch = asyncio.create_task(self._watch())
        self.inbox_reader = asyncio.create_task(self._read_inbox())
        _local_streams[session.nonce] = (asyncio.get_running_loop(), self)

    async def _join(self, nonce: str) -> None:
        """Listen for the session's client messages and for what the gateway relays to it; joining again
        refreshes the memberships, which channels_redis forgets after its group expiry."""
        for group in (legacy_sse.stream_group(self.conversation.session), relay.session_group(nonce)):
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups.add(group)

    async def mcp_message(self, event) -> None:
        await self._receive(event["body"])

    def hand_over(self, body: bytes) -> None:
        """A message POSTed to this process for this stream (see ``_local_streams``)."""
        self.inbox.put_nowait(body)

    async def _read_inbox(self) -> None:
        while True:
            await self._receive(await self.inbox.get())

    async def _receive(self, body: bytes) -> None:
        if self.tasks is None or self.ended:
            return
        try:
            message = parse_message(body)
        except JsonRpcError:
            return  # checked when it was POSTed; nothing else sends to this group
        await self.tasks.receive(message)

    async def mcp_outbound(self, event) -> None:
        await self._deliver(event["message"])

    async def mcp_stream_end(self, event) -> None:
        await self._close()
        raise StopConsumer()

    async def http_disconnect(self, message):
        await self._close()
        raise StopConsumer()

    async def _deliver(self, reply: dict) -> None:
        if not self.ended:
            await self.send_body(b"event: message\ndata: " + encode_json(reply) + b"\n\n", more_body=True)

    async def _end(self, reason: str) -> None:
        """End the stream from this side (revoked token, ended session); the consumer then stops itself."""
        if self.ended:
            return
        self.ended = True
        logger.info("Closing a legacy SSE stream: %s", reason)
        await self.send_body(b"", more_body=False)
        await self.channel_layer.send(self.channel_name, {"type": END_EVENT})

    async def _watch(self) -> None:
        try:
            reason = await standing_watch(
                self.conversation, send=self._deliver, keepalive=self._keep_alive, join=self._join
            )
        except Exception:
            logger.exception("Legacy SSE stream watch failed; closing the stream")
            reason = "internal error"
        await self._end(reason)

    async def _keep_alive(self) -> None:
        if not self.ended:
            await self.send_body(b": keepalive\n\n", more_body=True)

    async def _close(self) -> None:
        """The stream is gone: stop its work and end its session, so its POST URI answers 404 from now on."""
        if self.watch is not None and self.watch is not asyncio.current_task():
            self.watch.cancel()
            await asyncio.gather(self.watch, return_exceptions=True)
        self.watch = None
        if self.inbox_reader is not None and self.inbox_reader is not asyncio.current_task():
            self.inbox_reader.cancel()
            await asyncio.gather(self.inbox_reader, return_exceptions=True)
        self.inbox_reader = None
        if self.tasks is not None:
            await self.tasks.stop()
            self.tasks = None
        for group in self.groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups.clear()
        if self.conversation is not None and self.conversation.session is not None:
            nonce = self.conversation.session.nonce
            if _local_streams.get(nonce, (None, None))[1] is self:
                del _local_streams[nonce]
            session_end(self.conversation.session)
            relay.standing_clear(nonce)
            upstream_pool().release_client_session(nonce)
            self.conversation = None


class LegacySseMessageConsumer(McpHttpConsumer):
    """``POST …/messages/?session_id=…``: one client message, 202 at once, forwarded to the session's stream."""

    async def respond(self, request: McpRequest) -> McpReply:
        if self.scope["method"] != "POST":
            return McpReply(405, headers={"Allow": "POST"})
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        session_id = query.get("session_id", [None])[0]
        reply, session = await legacy_sse.message_accept(request, session_id)
        if session is not None:
            stream = _local_stream(session.nonce)
            if stream is not None:
                stream.hand_over(request.body)
            else:
                event = {"type": MESSAGE_EVENT, "body": request.body}
                await get_channel_layer().group_send(legacy_sse.stream_group(session), event)
        return reply
