"""The Streamable HTTP consumer: HTTP framing only. Protocol decisions live in proxy.protocol.streamable."""
from __future__ import annotations

from proxy.protocol import streamable
from proxy.transports.http import JSON, McpHttpConsumer, encode_json

EVENT_STREAM = "text/event-stream"


class StreamableHttpConsumer(McpHttpConsumer):
    async def respond(self, request: streamable.McpRequest) -> streamable.McpReply:
        method = self.scope["method"]
        if method == "POST":
            return await streamable.post(request)
        if method == "DELETE":
            return await streamable.delete(request)
        return streamable.McpReply(405, headers={"Allow": "POST, DELETE"})

    def _wants_stream(self) -> bool:
        accept = self.request_headers().get("accept", "")
        return EVENT_STREAM in accept and JSON not in accept

    async def send_reply(self, reply: streamable.McpReply) -> None:
        if reply.message is None or reply.status != 200 or not self._wants_stream():
            await super().send_reply(reply)
            return
        headers = [(name.encode(), value.encode()) for name, value in reply.headers.items()]
        headers += [
            (b"content-type", EVENT_STREAM.encode()),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        await self.send_response(200, b"event: message\ndata: " + encode_json(reply.message) + b"\n\n", headers=headers)
