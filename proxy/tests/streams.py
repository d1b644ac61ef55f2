"""In-process clients for the connection-bound transports (legacy SSE, WebSocket), against the real ASGI app."""
from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

from channels.testing import ApplicationCommunicator, WebsocketCommunicator

HOST = "127.0.0.1:8000"


def _headers(token: str | None, extra: dict[str, str]) -> list[tuple[bytes, bytes]]:
    headers = {"host": HOST}
    if token:
        headers["authorization"] = f"Bearer {token}"
    headers.update(extra)
    return [(name.encode(), value.encode()) for name, value in headers.items()]


class SseStream:
    """An SSE response read event by event: a legacy HTTP+SSE stream (``GET …/sse``), a Streamable HTTP GET stream,
    or the SSE answer to a POST (``method="POST"``, the message given to ``open``)."""

    def __init__(self, path: str, token: str | None, *, method: str = "GET", **headers: str) -> None:
        from config.asgi import application

        scope = {
            "type": "http", "http_version": "1.1", "method": method, "scheme": "http", "path": path,
            "raw_path": path.encode(), "root_path": "", "query_string": b"",
            "headers": _headers(token, {"accept": "text/event-stream", **headers}),
        }
        self.communicator = ApplicationCommunicator(application, scope)
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.ended = False
        self.last_event_id: str | None = None
        self._buffer = b""

    async def open(self, body: bytes = b"") -> int:
        await self.communicator.send_input({"type": "http.request", "body": body, "more_body": False})
        start = await self.communicator.receive_output(timeout=10)
        assert start["type"] == "http.response.start"
        self.status = start["status"]
        self.headers = {name.decode().lower(): value.decode() for name, value in start.get("headers", [])}
        return self.status

    async def body(self) -> bytes:
        """The whole body of a response that is not a stream (a refusal)."""
        while not self.ended:
            await self._read(timeout=10)
        return self._buffer

    async def _read(self, timeout: float) -> None:
        chunk = await self.communicator.receive_output(timeout=timeout)
        assert chunk["type"] == "http.response.body"
        self._buffer += chunk["body"]
        self.ended = not chunk.get("more_body", False)

    async def event(self, timeout: float = 10) -> tuple[str, str]:
        """The next event as (name, data); a comment line comes back as ("comment", text)."""
        while b"\n\n" not in self._buffer:
            if self.ended:
                raise EOFError("the stream ended")
            await self._read(timeout)
        raw, self._buffer = self._buffer.split(b"\n\n", 1)
        text = raw.decode()
        if text.startswith(":"):
            return "comment", text[1:].strip()
        fields = dict(line.split(": ", 1) for line in text.split("\n"))
        self.last_event_id = fields.get("id", self.last_event_id)
        return fields.get("event", "message"), fields.get("data", "")

    async def message(self, timeout: float = 10) -> dict:
        """The next JSON-RPC message, skipping keepalive comments."""
        while True:
            name, data = await self.event(timeout)
            if name == "message":
                return json.loads(data)

    async def endpoint(self) -> str:
        name, data = await self.event()
        assert name == "endpoint"
        return data

    async def quiet(self, timeout: float = 0.5) -> bool:
        """Whether nothing arrives for ``timeout`` seconds (without cancelling the application, as a timeout would)."""
        return not self._buffer and await self.communicator.receive_nothing(timeout)

    async def wait_for_end(self, timeout: float = 10) -> None:
        while not self.ended:
            await self._read(timeout)

    async def close(self) -> None:
        """Disconnect, and check the consumer stops by itself (a timeout here would cancel it silently)."""
        await self.communicator.send_input({"type": "http.disconnect"})
        await self.stopped()

    async def stopped(self, timeout: float = 5) -> None:
        """Wait for the consumer to stop by itself (asgiref's own wait would cancel it silently on timeout)."""
        done, _ = await asyncio.wait([self.communicator.future], timeout=timeout)
        assert done, "the stream's consumer did not stop"
        self.communicator.future.result()


def post_path(endpoint: str) -> str:
    """The path and query of an ``endpoint`` event's URI, for HttpCommunicator."""
    parts = urlsplit(endpoint)
    return f"{parts.path}?{parts.query}"


def websocket(path: str, token: str | None = None, *, subprotocols: list[str] | None = None,
              **headers: str) -> WebsocketCommunicator:
    from config.asgi import application

    return WebsocketCommunicator(application, path, headers=_headers(token, headers), subprotocols=subprotocols)

