"""A stdio ↔ Streamable HTTP bridge: a desktop MCP client that only launches stdio servers reaches a virtual server.

One JSON-RPC message per line on stdin is POSTed to ``…/servers/<slug>/mcp`` with the token; every message Gatehouse
sends back (a JSON body, each event of an SSE response, each event of the session's GET stream) is written to stdout,
one per line. The bridge keeps the ``Mcp-Session-Id`` the gateway hands out at ``initialize`` and ends the session
with DELETE when stdin closes. A refusal (bad token, unknown server, unreachable gateway) is logged to stderr and
answered to the client as a JSON-RPC error for the request that caused it, so the client never waits in vain.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx2
from httpx2 import EventSource

logger = logging.getLogger("gatehouse.stdio_bridge")

ACCEPT = "application/json, text/event-stream"
EVENT_STREAM = "text/event-stream"
# JSON-RPC: invalid JSON from the client; implementation-defined server errors for the gateway's refusals.
PARSE_ERROR = -32700
GATEWAY_ERROR = -32000
# How often a GET stream that ended is reopened in a row before the bridge stops listening for server messages.
STREAM_RECONNECTS = 5
DEFAULT_RETRY_SECONDS = 1.0
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}

_HINTS = {
    401: "the token was refused: check --token-file or GATEHOUSE_TOKEN (expired or revoked tokens are refused too)",
    403: "the token may not use this server or method",
    404: "no such virtual server for this token (check --server), or the session expired",
}


class BridgeError(Exception):
    """A configuration the bridge refuses before it starts (bad URL, missing token)."""


def bridge_endpoint(base_url: str, server_slug: str, *, allow_insecure_http: bool = False) -> str:
    """``<base>/servers/<slug>/mcp``. A token never travels over plain HTTP to another machine unless asked to."""
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise BridgeError(f"--url must be an http(s) URL of Gatehouse, not {base_url!r}.")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS and not allow_insecure_http:
        raise BridgeError(
            "Refusing to send the token over plain http to a remote host: use https (or --allow-insecure-http)."
        )
    if not server_slug or "/" in server_slug:
        raise BridgeError(f"--server must be a virtual server slug, not {server_slug!r}.")
    return f"{base_url.rstrip('/')}/servers/{server_slug}/mcp"


def _encode(message: dict | list) -> bytes:
    # json.dumps escapes control characters, so a message never spans two lines.
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


@dataclass
class StdioBridge:
    endpoint: str
    token: str
    write: Callable[[bytes], None]
    http: httpx2.AsyncClient
    session_id: str | None = None
    protocol_version: str | None = None
    _listener: asyncio.Task | None = None
    _calls: set[asyncio.Task] = field(default_factory=set)

    # stdin → Gatehouse

    async def run(self, lines: AsyncIterator[bytes]) -> None:
        """Forward every line until stdin closes, then end the session."""
        try:
            async for line in lines:
                if not line.strip():
                    continue
                try:
                    message = json.loads(line)
                except ValueError:
                    logger.error("Ignoring a line from the client that is not JSON")
                    self._emit({"jsonrpc": "2.0", "id": None, "error": {"code": PARSE_ERROR, "message": "Parse error"}})
                    continue
                if isinstance(message, dict) and message.get("method") == "initialize":
                    await self._post(message)  # the session id must be known before anything else is sent
                    continue
                task = asyncio.create_task(self._post(message))
                self._calls.add(task)
                task.add_done_callback(self._calls.discard)
        finally:
            await self._close()

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": ACCEPT, "Content-Type": "application/json"}
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        if self.protocol_version:
            headers["MCP-Protocol-Version"] = self.protocol_version
        return headers

    async def _post(self, message: dict | list) -> None:
        request_id = message.get("id") if isinstance(message, dict) and "method" in message else None
        try:
            async with self.http.stream("POST", self.endpoint, json=message, headers=self._headers()) as response:
                if response.status_code >= 400:
                    await response.aread()
                    self._refused(response, request_id)
                    return
                if isinstance(message, dict) and message.get("method") == "initialize":
                    self._session_opened(response)
                if response.headers.get("content-type", "").startswith(EVENT_STREAM):
                    async for event in EventSource(response):
                        self._emit_event_data(event.data)
                elif response.status_code != 202:
                    body = await response.aread()
                    if body.strip():
                        self._emit_json(body)
        except httpx2.HTTPError as exc:
            logger.error("Gatehouse at %s is unreachable: %s", self.endpoint, type(exc).__name__)
            if request_id is not None:
                self._emit_error(request_id, GATEWAY_ERROR, f"Gatehouse is unreachable ({type(exc).__name__}).")

    def _session_opened(self, response: httpx2.Response) -> None:
        self.session_id = response.headers.get("mcp-session-id") or self.session_id
        if self.session_id and self._listener is None:
            self._listener = asyncio.create_task(self._listen())

    def _refused(self, response: httpx2.Response, request_id) -> None:
        error = None
        try:
            body = response.json()
            error = body.get("error") if isinstance(body, dict) else None
        except ValueError:
            pass
        message = (error or {}).get("message") or response.reason_phrase or "refused"
        hint = _HINTS.get(response.status_code)
        logger.error("Gatehouse answered HTTP %s: %s%s", response.status_code, message, f" ({hint})" if hint else "")
        if request_id is None:
            return  # a notification or a response from the client: nobody waits for an answer
        code = error.get("code") if isinstance(error, dict) and isinstance(error.get("code"), int) else GATEWAY_ERROR
        self._emit_error(request_id, code, f"{message} (HTTP {response.status_code})", (error or {}).get("data"))

    # Gatehouse → stdout

    async def _listen(self) -> None:
        """The session's GET stream: server→client requests and notifications outside any response."""
        last_event_id: str | None = None
        retry = DEFAULT_RETRY_SECONDS
        failures = 0
        while failures < STREAM_RECONNECTS:
            headers = {**self._headers(), "Accept": EVENT_STREAM}
            headers.pop("Content-Type")
            if last_event_id:
                headers["Last-Event-ID"] = last_event_id
            try:
                async with self.http.stream("GET", self.endpoint, headers=headers) as response:
                    if response.status_code == 405:
                        logger.info("Gatehouse offers no GET stream for this session")
                        return
                    if response.status_code != 200:
                        await response.aread()
                        logger.warning("The GET stream was refused with HTTP %s", response.status_code)
                        failures += 1
                    else:
                        failures = 0
                        logger.info("Listening on the session's GET stream")
                        async for event in EventSource(response):
                            last_event_id = event.id or last_event_id
                            retry = event.retry / 1000 if event.retry is not None else retry
                            self._emit_event_data(event.data)
                        failures += 1  # the stream ended: reopen it after the retry delay the server asked for
            except httpx2.HTTPError as exc:
                logger.warning("The GET stream broke: %s", type(exc).__name__)
                failures += 1
            await asyncio.sleep(retry)
        logger.error("Stopped listening for server messages after %s failed attempts", STREAM_RECONNECTS)

    def _emit_event_data(self, data: str) -> None:
        if data.strip():
            self._emit_json(data.encode())

    def _emit_json(self, body: bytes) -> None:
        try:
            message = json.loads(body)
        except ValueError:
            logger.error("Gatehouse sent a body that is not JSON; dropped")
            return
        for one in message if isinstance(message, list) else [message]:
            self._emit(one)

    def _emit_error(self, request_id, code: int, message: str, data=None) -> None:
        error = {"code": code, "message": message, **({"data": data} if data is not None else {})}
        self._emit({"jsonrpc": "2.0", "id": request_id, "error": error})

    def _emit(self, message: dict | list) -> None:
        if isinstance(message, dict) and message.get("id") is not None and "result" in message:
            version = message["result"].get("protocolVersion") if isinstance(message["result"], dict) else None
            self.protocol_version = version if isinstance(version, str) else self.protocol_version
        self.write(_encode(message))

    # Shutdown

    async def _close(self) -> None:
        if self._calls:
            await asyncio.gather(*self._calls, return_exceptions=True)
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        if self.session_id:
            try:
                await self.http.delete(self.endpoint, headers=self._headers(), timeout=5.0)
            except httpx2.HTTPError:
                pass  # the session expires on its own
