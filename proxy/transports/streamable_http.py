"""The Streamable HTTP consumer: HTTP framing only. Protocol decisions live in proxy.protocol.streamable."""
from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from proxy.protocol import streamable
from proxy.protocol.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, JsonRpcError, error_message

logger = logging.getLogger(__name__)

JSON = "application/json"
EVENT_STREAM = "text/event-stream"


def _host_allowed(value: str) -> bool:
    domain, _ = split_domain_port(value)
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


def _encode(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


class StreamableHttpConsumer(AsyncHttpConsumer):
    # Request/response only for now: no channel-layer channel is opened per request.
    channel_layer_alias = None

    async def dispatch(self, message):
        # The base class closes stale database connections before every message (a thread hop per request); the
        # warm path touches no database, and cold paths go through database_sync_to_async, which does it itself.
        handler = getattr(self, message["type"].replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def http_request(self, message):
        self.body.append(message.get("body", b""))
        if sum(map(len, self.body)) > settings.GATEHOUSE_MCP_MAX_BODY_BYTES:
            limit = settings.GATEHOUSE_MCP_MAX_BODY_BYTES
            await self._reply_error(413, JsonRpcError(INVALID_REQUEST, f"Request body exceeds {limit} bytes."))
            raise StopConsumer()
        if not message.get("more_body"):
            await self.handle(b"".join(self.body))
            raise StopConsumer()

    async def http_disconnect(self, message):
        raise StopConsumer()

    def _headers(self) -> dict[str, str]:
        return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in self.scope["headers"]}

    async def handle(self, body: bytes) -> None:
        headers = self._headers()
        if not _host_allowed(headers.get("host", "")) or (
            "origin" in headers and not _host_allowed(urlsplit(headers["origin"]).netloc)
        ):
            await self._reply_error(403, JsonRpcError(INVALID_REQUEST, "Forbidden: Host or Origin is not allowed."))
            return
        request = streamable.McpRequest(self.scope["url_route"]["kwargs"].get("slug", ""), headers, body)
        method = self.scope["method"]
        try:
            if method == "POST":
                reply = await streamable.post(request)
            elif method == "DELETE":
                reply = await streamable.delete(request)
            else:
                reply = streamable.McpReply(405, headers={"Allow": "POST, DELETE"})
        except Exception:
            # A bug, not bad input: log it with its traceback and still answer in JSON-RPC.
            logger.exception("Unhandled error serving %s %s", method, self.scope["path"])
            await self._reply_error(500, JsonRpcError(INTERNAL_ERROR, "Internal error."))
            return
        await self._send_reply(reply, wants_stream=self._wants_stream(headers))

    @staticmethod
    def _wants_stream(headers: dict[str, str]) -> bool:
        accept = headers.get("accept", "")
        return EVENT_STREAM in accept and JSON not in accept

    async def _reply_error(self, status: int, error: JsonRpcError) -> None:
        await self._send_reply(streamable.McpReply(status, error_message(None, error)), wants_stream=False)

    async def _send_reply(self, reply: streamable.McpReply, *, wants_stream: bool) -> None:
        headers = [(name.encode(), value.encode()) for name, value in reply.headers.items()]
        if reply.message is None:
            await self.send_response(reply.status, b"", headers=headers)
            return
        if wants_stream and reply.status == 200:
            headers += [
                (b"content-type", EVENT_STREAM.encode()),
                (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no"),
            ]
            await self.send_response(200, b"event: message\ndata: " + _encode(reply.message) + b"\n\n", headers=headers)
            return
        headers.append((b"content-type", JSON.encode()))
        await self.send_response(reply.status, _encode(reply.message), headers=headers)
