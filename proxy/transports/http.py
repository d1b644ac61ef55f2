"""HTTP framing shared by the request/response MCP endpoints: a capped body, Host/Origin checked, JSON replies."""
from __future__ import annotations

import json
import logging

from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from django.conf import settings

from proxy.protocol.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, JsonRpcError, error_message
from proxy.protocol.streamable import McpReply, McpRequest
from proxy.transports.origin import origin_allowed
from proxy.transports.scope import DirectDispatch, scope_headers, scope_server_slug
from proxy.upstream.passthrough import incoming_headers
from proxy.upstream.via import via_hops, via_refusal

logger = logging.getLogger(__name__)

JSON = "application/json"


def encode_json(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def error_reply(status: int, error: JsonRpcError) -> McpReply:
    return McpReply(status, error_message(None, error))


FORBIDDEN_HOST = JsonRpcError(INVALID_REQUEST, "Forbidden: Host or Origin is not allowed.")


class McpHttpConsumer(DirectDispatch, AsyncHttpConsumer):
    """One HTTP request in, one reply out. Subclasses implement ``respond``."""

    # Request/response only: no channel-layer channel is opened per request.
    channel_layer_alias = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._headers: dict[str, str] | None = None

    async def respond(self, request: McpRequest) -> McpReply:
        raise NotImplementedError

    async def http_request(self, message):
        body = await self.body_received(message)
        if body is not None:
            await self.handle(body)
            raise StopConsumer()

    async def body_received(self, message) -> bytes | None:
        """The whole body once its last chunk has arrived, else None; over the cap the client gets 413."""
        self.body.append(message.get("body", b""))
        if sum(map(len, self.body)) > settings.GATEHOUSE_MCP_MAX_BODY_BYTES:
            limit = settings.GATEHOUSE_MCP_MAX_BODY_BYTES
            too_large = JsonRpcError(INVALID_REQUEST, f"Request body exceeds {limit} bytes.")
            await self.send_reply(error_reply(413, too_large))
            raise StopConsumer()
        if message.get("more_body"):
            return None
        return b"".join(self.body)

    async def http_disconnect(self, message):
        raise StopConsumer()

    def request_headers(self) -> dict[str, str]:
        """The request's headers, lower-cased; built once per request."""
        if self._headers is None:
            self._headers = scope_headers(self.scope)
        return self._headers

    async def handle(self, body: bytes) -> None:
        headers = self.request_headers()
        if not origin_allowed(headers):
            await self.send_reply(error_reply(403, FORBIDDEN_HOST))
            return
        incoming_headers.set(headers)  # for header passthrough (proxy.upstream.passthrough)
        loop = via_refusal(via_hops(headers))
        if loop is not None:
            await self.send_reply(error_reply(loop.http_status, loop))
            return
        try:
            reply = await self.respond(McpRequest(scope_server_slug(self.scope), headers, body))
        except Exception:
            # A bug, not bad input: log it with its traceback and still answer in JSON-RPC.
            logger.exception("Unhandled error serving %s %s", self.scope["method"], self.scope["path"])
            reply = error_reply(500, JsonRpcError(INTERNAL_ERROR, "Internal error."))
        await self.send_reply(reply)

    async def send_reply(self, reply: McpReply) -> None:
        headers = [(name.encode(), value.encode()) for name, value in reply.headers.items()]
        if reply.message is None:
            await self.send_response(reply.status, b"", headers=headers)
            return
        headers.append((b"content-type", JSON.encode()))
        await self.send_response(reply.status, encode_json(reply.message), headers=headers)
