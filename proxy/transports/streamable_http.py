"""The Streamable HTTP consumer: HTTP and SSE framing only. Protocol decisions live in proxy.protocol.streamable.

A POST is answered with JSON unless the upstream sends something before the result (progress, a log message, a
server→client request) and the client accepts ``text/event-stream``: then the response turns into an SSE stream
that ends with the result. A GET opens the session's standing stream, or resumes a stream with ``Last-Event-ID``.
"""
from __future__ import annotations

import asyncio
import logging

from channels import DEFAULT_CHANNEL_LAYER
from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer

from proxy import event_store, relay
from proxy.protocol import streamable
from proxy.protocol.standing import standing_watch
from proxy.transports.http import FORBIDDEN_HOST, JSON, McpHttpConsumer, encode_json, error_reply
from proxy.transports.origin import origin_allowed
from proxy.transports.scope import scope_server_slug

logger = logging.getLogger(__name__)

EVENT_STREAM = streamable.EVENT_STREAM
STREAM_HEADERS = [
    (b"content-type", EVENT_STREAM.encode()),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
# Channel-layer message types: an event of a stream followed after its first connection went away, and the stream
# consumer telling itself to stop.
STREAM_EVENT = "mcp.stream.event"
END_EVENT = "mcp.stream.end"

# Calls whose client went away keep running (a disconnect is not a cancel); hold them so they are not collected.
_orphans: set[asyncio.Task] = set()


def sse_event(message: dict, event_id: str | None) -> bytes:
    head = f"id: {event_id}\nevent: message\n" if event_id else "event: message\n"
    return head.encode() + b"data: " + encode_json(message) + b"\n\n"


class ResponseStream:
    """The response of one POST: JSON until something must be sent before the result, then an SSE stream.

    After the client disconnects, a resumable stream keeps its events in the event store and publishes them to the
    stream's group, where a ``GET`` with ``Last-Event-ID`` picks them up on any process.
    """

    def __init__(self, consumer: StreamableHttpConsumer, *, can_stream: bool) -> None:
        self.consumer = consumer
        self.can_stream = can_stream
        self.started = False
        self.detached = False
        self.cancels_on_disconnect = False
        self.stream_id: str | None = None
        self._lock = asyncio.Lock()

    def resumable(self, stream_id: str) -> None:
        self.stream_id = stream_id

    def cancel_on_disconnect(self) -> None:
        self.cancels_on_disconnect = True

    async def send(self, message: dict, *, final: bool = False) -> None:
        async with self._lock:
            event_id = None
            if self.stream_id is not None and (self.started or self.detached or not final):
                event_id, sequence = event_store.event_append(self.stream_id, message)
                if final:
                    event_store.stream_finish(self.stream_id)
                if self.detached:
                    event = {"type": STREAM_EVENT, "sequence": sequence, "id": event_id, "message": message,
                             "final": final}
                    await get_channel_layer().group_send(event_store.stream_group(self.stream_id), event)
            if self.detached:
                return
            if not self.started:
                self.started = True
                await self.consumer.send_headers(status=200, headers=STREAM_HEADERS)
            await self.consumer.send_body(sse_event(message, event_id), more_body=not final)

    async def keepalive(self) -> None:
        async with self._lock:
            if self.started and not self.detached:
                await self.consumer.send_body(b": keepalive\n\n", more_body=True)


class StreamableHttpConsumer(McpHttpConsumer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.outlet: ResponseStream | None = None
        self.work: asyncio.Task | None = None
        self.stream: streamable.StandingStream | None = None
        self.watch: asyncio.Task | None = None
        self.groups: set[str] = set()
        self.last_sequence = 0
        self.ended = False

    async def __call__(self, scope, receive, send):
        if scope.get("method") == "GET":
            # Only a GET stream listens on the channel layer; POSTs stay request/response without a channel.
            self.channel_layer_alias = DEFAULT_CHANNEL_LAYER
            return await super().__call__(scope, receive, send)
        # A POST is answered by a task; the consumer stops when the answer is complete or the client goes away.
        self.answered = asyncio.Event()
        dispatching = asyncio.create_task(super().__call__(scope, receive, send))
        answered = asyncio.create_task(self.answered.wait())
        await asyncio.wait({dispatching, answered}, return_when=asyncio.FIRST_COMPLETED)
        answered.cancel()
        if not dispatching.done():
            dispatching.cancel()
        await asyncio.gather(dispatching, return_exceptions=True)

    async def http_request(self, message):
        body = await self.body_received(message)
        if body is None:
            return
        if self.scope["method"] == "GET":
            await self._open_stream()
            return
        # Answered in a task, so a disconnect is noticed while the call runs (and cancels it where the era says).
        self.work = asyncio.create_task(self.handle(body))
        _orphans.add(self.work)
        self.work.add_done_callback(self._answered)

    def _answered(self, work: asyncio.Task) -> None:
        _orphans.discard(work)
        self.answered.set()

    async def http_disconnect(self, message):
        if self.work is not None and not self.work.done():
            if self.outlet is not None and self.outlet.cancels_on_disconnect:
                self.work.cancel()
            elif self.outlet is not None:
                self.outlet.detached = True
        await self._close_stream()
        raise StopConsumer()

    async def respond(self, request: streamable.McpRequest) -> streamable.McpReply:
        method = self.scope["method"]
        if method == "POST":
            self.outlet = ResponseStream(self, can_stream=EVENT_STREAM in request.headers.get("accept", ""))
            return await streamable.post(request, self.outlet)
        if method == "DELETE":
            return await streamable.delete(request)
        return streamable.McpReply(405, headers={"Allow": "GET, POST, DELETE"})

    def _wants_stream(self) -> bool:
        accept = self.request_headers().get("accept", "")
        return EVENT_STREAM in accept and JSON not in accept

    async def send_reply(self, reply: streamable.McpReply) -> None:
        outlet = self.outlet
        if outlet is not None and (outlet.started or outlet.detached) and reply.message is not None:
            await outlet.send(reply.message, final=True)
            return
        if reply.message is None or reply.status != 200 or not self._wants_stream():
            await super().send_reply(reply)
            return
        headers = [(name.encode(), value.encode()) for name, value in reply.headers.items()]
        await self.send_response(200, sse_event(reply.message, None), headers=headers + STREAM_HEADERS)

    # The GET stream.

    async def _open_stream(self) -> None:
        headers = self.request_headers()
        if not origin_allowed(headers):
            await self._refuse(error_reply(403, FORBIDDEN_HOST))
        opened = await streamable.get(streamable.McpRequest(scope_server_slug(self.scope), headers))
        if isinstance(opened, streamable.McpReply):
            await self._refuse(opened)
        self.stream = opened
        await self.send_headers(status=200, headers=STREAM_HEADERS)
        if opened.resume_after is not None:
            self.last_sequence = opened.resume_after
            await self._join(event_store.stream_group(opened.stream_id))
            events, finished = event_store.events_after(opened.stream_id, opened.resume_after)
            for event_id, sequence, message in events:
                await self._write(message, event_id, sequence)
            if finished and not opened.standing:
                await self._end("the resumed stream is complete")
                return
            if not opened.standing:
                return  # a POST's response: it ends with the result, followed through the stream's group
        await self._join(relay.session_group(opened.nonce))
        relay.standing_mark(opened.nonce)
        self.watch = asyncio.create_task(self._watch())

    async def _refuse(self, reply: streamable.McpReply) -> None:
        await super().send_reply(reply)
        raise StopConsumer()

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups.add(group)

    async def _watch(self) -> None:
        try:
            reason = await standing_watch(
                self.stream.conversation, send=self._send_standing, keepalive=self._keep_alive,
                join=lambda nonce: self._join(relay.session_group(nonce)),
            )
        except Exception:
            logger.exception("Streamable HTTP GET stream watch failed; closing the stream")
            reason = "internal error"
        await self._end(reason)

    async def _send_standing(self, message: dict) -> None:
        event_id, sequence = event_store.event_append(self.stream.stream_id, message)
        await self._write(message, event_id, sequence)

    async def _write(self, message: dict, event_id: str, sequence: int) -> None:
        if not self.ended and sequence > self.last_sequence:
            self.last_sequence = sequence
            await self.send_body(sse_event(message, event_id), more_body=True)

    async def _keep_alive(self) -> None:
        if not self.ended:
            await self.send_body(b": keepalive\n\n", more_body=True)

    async def mcp_outbound(self, event) -> None:
        await self._send_standing(event["message"])

    async def mcp_stream_event(self, event) -> None:
        await self._write(event["message"], event["id"], event["sequence"])
        if event["final"]:
            await self._end("the resumed stream is complete")

    async def mcp_stream_end(self, event) -> None:
        await self._close_stream()
        raise StopConsumer()

    async def _end(self, reason: str) -> None:
        """End the stream from this side; the consumer then stops itself."""
        if self.ended:
            return
        self.ended = True
        logger.info("Closing a Streamable HTTP GET stream: %s", reason)
        await self.send_body(b"", more_body=False)
        await self.channel_layer.send(self.channel_name, {"type": END_EVENT})

    async def _close_stream(self) -> None:
        if self.watch is not None and self.watch is not asyncio.current_task():
            self.watch.cancel()
            await asyncio.gather(self.watch, return_exceptions=True)
        self.watch = None
        for group in self.groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups.clear()
        if self.stream is not None and self.stream.standing:
            relay.standing_clear(self.stream.nonce)
