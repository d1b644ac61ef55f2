"""Keeping upstream HTTP connections alive when the MCP SDK closes a streamed answer early.

The SDK's Streamable HTTP client closes a POST's SSE response as soon as the JSON-RPC result has arrived, before the
server's end of the stream. Closing a response whose body is not fully read makes the connection pool drop the
connection, so a handshake-era session (whose answers are SSE streams) opened a new TCP connection for almost every
call. The server ends the stream right after the result, so reading that last bit before closing lets the
connection go back to the pool; a stream that does not end promptly is closed as before.
"""
from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx2

from config.egress import GuardedAsyncTransport

DRAIN_SECONDS = 0.2
DRAIN_BYTES = 64 * 1024


class _DrainedOnClose(httpx2.AsyncByteStream):
    def __init__(self, stream: httpx2.AsyncByteStream) -> None:
        self._stream = stream
        self._chunks: AsyncIterator[bytes] | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self._chunks = self._stream.__aiter__()
        async for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        try:
            if self._chunks is not None:
                drained = 0
                with anyio.move_on_after(DRAIN_SECONDS):
                    try:
                        while drained <= DRAIN_BYTES:
                            drained += len(await self._chunks.__anext__())
                    except (StopAsyncIteration, httpx2.HTTPError, OSError):
                        pass
        finally:
            # Always released, also when the close comes with a cancellation (the drain is then cut short).
            await self._stream.aclose()


class UpstreamTransport(GuardedAsyncTransport):
    """The SSRF-guarded transport, with streamed (SSE) POST answers read to their end before they are closed."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await super().handle_async_request(request)
        streamed = response.headers.get("content-type", "").startswith("text/event-stream")
        if request.method == "POST" and streamed:
            response.stream = _DrainedOnClose(response.stream)
        return response
