"""Requests to a 2026-07-28 (stateless) upstream over Streamable HTTP, sent as plain POSTs.

In the stateless era a request carries all it needs: its version, the client's identity and capabilities in
``_meta``, its method and name in headers. Once the SDK client has discovered such an upstream (proxy.upstream.pool),
the data plane's ``tools/call``, ``prompts/get`` and ``resources/read`` go out as one POST each on a keep-alive
aiohttp session, and the answer (JSON, or an SSE stream with progress before the result) comes back as JSON-ready
data, without the SDK's per-request tasks, memory streams and pydantic models. Per call that is about a fifth of
the client CPU of the SDK over httpx2 (bench/README.md). Everything else (discovery, the handshake era, SSE and stdio
upstreams, sessions bound to a client session, held calls, ``subscriptions/listen``) stays on the SDK client.

Errors come out as the SDK's ``MCPError`` (the pool turns them into upstream errors as for any SDK call); a failed
connection is an aiohttp or guard exception, which the pool reports as the upstream being unavailable.
"""
from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import aiohttp
import yarl
from django.conf import settings
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    NAME_BEARING_METHODS,
    encode_header_value,
    mcp_param_headers,
    x_mcp_header_map,
)
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    LOG_LEVEL_META_KEY,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    PROTOCOL_VERSION_META_KEY,
)
from opentelemetry import propagate

from catalog.snapshot import UpstreamTarget
from config.egress import EgressRefused, egress_aiohttp_session, url_refusal
from proxy import relay
from proxy.protocol.calls import LOG_LEVELS, ClientFeatures, DownstreamCall, log_level_passes
from proxy.protocol.result_cap import RESULT_TOO_LARGE
from proxy.tracing import upstream_span
from proxy.upstream.callbacks import rediscover_soon
from proxy.upstream.client import CLIENT_INFO
from proxy.upstream.keepalive import DRAIN_BYTES, DRAIN_SECONDS
from proxy.upstream.oauth import OAUTH_TYPES, access_token
from proxy.upstream.operations import UpstreamOperation
from proxy.upstream.via import via_value

STATELESS_VERSION = "2026-07-28"
# What goes out this way: the calls clients make all day. Completions, subscriptions and listings are rare and
# stay on the SDK client.
METHODS = frozenset({"tools/call", "prompts/get", "resources/read"})
_LIST_CHANGED = frozenset({
    "notifications/tools/list_changed", "notifications/prompts/list_changed", "notifications/resources/list_changed",
})
_CLIENT_INFO = CLIENT_INFO.model_dump(by_alias=True, exclude_none=True)
_ACCEPT = "application/json, text/event-stream"
_TOOL_PAGES = 100


def stateless_serves(
    target: UpstreamTarget, operation: UpstreamOperation, *, bound: bool, protocol_version: str | None
) -> bool:
    """Whether ``operation`` goes out as a plain POST: a shared (not client-bound) session to a Streamable HTTP
    upstream that speaks 2026-07-28."""
    return (
        protocol_version == STATELESS_VERSION and operation.method in METHODS and not bound
        and target.transport == "streamable_http"
    )


def _capabilities(features: ClientFeatures) -> dict[str, Any]:
    """What the downstream client can answer, as the SDK client of a pooled session advertises it."""
    capabilities: dict[str, Any] = {}
    if features.sampling:
        capabilities["sampling"] = {}
    if features.elicitation:
        capabilities["elicitation"] = {"form": {}, "url": {}}
    if features.roots:
        capabilities["roots"] = {"listChanged": True}
    return capabilities


class StatelessUpstreams:
    """The aiohttp session of one event loop, and what it learnt of each upstream's tools (``x-mcp-header``)."""

    def __init__(self) -> None:
        self._http: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)
        # pool key → tool name → the tool's x-mcp-header map (only tools that have one).
        self._header_maps: dict[tuple, dict[str, dict[tuple[str, ...], str]]] = {}

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def request(self, target: UpstreamTarget, operation: UpstreamOperation) -> dict[str, Any]:
        """``operation``'s result from the upstream; MCPError for an error answer."""
        params = {key: value for key, value in operation.params.items() if value is not None}
        try:
            return await self._send(target, operation.method, params, operation.call)
        except MCPError as exc:
            # The upstream checks Mcp-Param-* headers, derived from the tool's listing: learn it, then once more.
            if exc.code != HEADER_MISMATCH or operation.method != "tools/call":
                raise
            await self._learn_tools(target)
            return await self._send(target, operation.method, params, operation.call)

    async def _learn_tools(self, target: UpstreamTarget) -> None:
        maps: dict[str, dict[tuple[str, ...], str]] = {}
        cursor = None
        for _ in range(_TOOL_PAGES):
            page = await self._send(target, "tools/list", {"cursor": cursor} if cursor else {}, None)
            for tool in page.get("tools") or []:
                if isinstance(tool, dict) and isinstance(tool.get("name"), str):
                    header_map = x_mcp_header_map(tool.get("inputSchema"))
                    if header_map:
                        maps[tool["name"]] = header_map
            cursor = page.get("nextCursor")
            if not isinstance(cursor, str):
                break
        self._header_maps[target.pool_key] = maps

    def _headers(self, target: UpstreamTarget, method: str, params: dict[str, Any]) -> dict[str, str]:
        headers = {
            **dict(target.headers), "Via": via_value(), "Accept": _ACCEPT, "Content-Type": "application/json",
            MCP_PROTOCOL_VERSION_HEADER: STATELESS_VERSION, MCP_METHOD_HEADER: method,
        }
        name_key = NAME_BEARING_METHODS.get(method)
        if name_key is not None and isinstance(name := params.get(name_key), str):
            headers[MCP_NAME_HEADER] = encode_header_value(name)
            if method == "tools/call":
                header_map = self._header_maps.get(target.pool_key, {}).get(name)
                if header_map:
                    headers.update(mcp_param_headers(header_map, params.get("arguments") or {}))
        return headers

    async def _send(
        self, target: UpstreamTarget, method: str, params: dict[str, Any], call: DownstreamCall | None
    ) -> dict[str, Any]:
        request_id = next(self._ids)
        meta = dict(params.get("_meta") or {})
        meta[PROTOCOL_VERSION_META_KEY] = STATELESS_VERSION
        meta[CLIENT_INFO_META_KEY] = _CLIENT_INFO
        meta[CLIENT_CAPABILITIES_META_KEY] = _capabilities(call.features if call is not None else ClientFeatures())
        if call is not None and call.progress_token is not None:
            meta["progressToken"] = request_id
        if call is not None and (log_level := call.upstream_log_level) is not None:
            meta[LOG_LEVEL_META_KEY] = log_level  # stateless upstreams send log messages only to requests that ask
        with upstream_span(method, request_id, params):
            propagate.inject(meta)  # trace context and the Via chain (proxy.upstream.via), as the SDK client does
            message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**params, "_meta": meta}}
            body = json.dumps(message)
            return await self._post(target, body, self._headers(target, method, params), request_id, call)

    async def _post(
        self, target: UpstreamTarget, body: str, headers: dict[str, str], request_id: int, call: DownstreamCall | None
    ) -> dict[str, Any]:
        url = yarl.URL(target.url)
        refusal = url_refusal(url)
        if refusal is not None:
            raise EgressRefused(refusal)
        if self._http is None:
            self._http = egress_aiohttp_session()
        oauth, refused = target.auth_type in OAUTH_TYPES, None
        while True:
            if oauth:
                token = await access_token(target, stale=refused)
                headers["Authorization"] = f"Bearer {token}"
            async with self._http.post(url, data=body, headers=headers, allow_redirects=False) as response:
                if oauth and response.status == 401 and refused is None:
                    refused = token  # fetch a fresh token, once
                    continue
                return await _answer(target, response, request_id, call)


async def _answer(
    target: UpstreamTarget, response: aiohttp.ClientResponse, request_id: int, call: DownstreamCall | None
) -> dict[str, Any]:
    content_type = response.headers.get("Content-Type", "").lower()
    if response.status >= 400:
        raise _status_error(response.status, await _error_body(response, content_type))
    if response.status == 202 or 300 <= response.status < 400:
        what = "202 Accepted" if response.status == 202 else f"a redirect ({response.status}), not followed"
        raise MCPError(code=INVALID_REQUEST, message=f"The upstream answered a request with {what}.")
    if content_type.startswith("application/json"):
        return _result(_parsed(await _body(response)), request_id)
    if content_type.startswith("text/event-stream"):
        return await _streamed(target, response, request_id, call)
    raise MCPError(code=INVALID_REQUEST, message=f"Unexpected content type: {content_type or 'none'}")


def _too_large() -> MCPError:
    limit = _read_limit()
    return MCPError(
        code=RESULT_TOO_LARGE, message=f"The upstream's answer is over this gateway's limit of {limit} bytes.",
        data={"limit": limit},
    )


def _read_limit() -> int:
    """What an answer may take on the wire: the result cap (proxy.protocol.result_cap, measured on the compact
    re-encoding) with room for another encoding of the same result; over it, reading stops."""
    return 2 * settings.GATEHOUSE_MAX_RESULT_BYTES + 1024 * 1024


async def _body(response: aiohttp.ClientResponse) -> bytes:
    limit = _read_limit()
    if (response.content_length or 0) > limit:
        raise _too_large()
    chunks, size = [], 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def _error_body(response: aiohttp.ClientResponse, content_type: str) -> dict[str, Any] | None:
    if not content_type.startswith("application/json"):
        return None
    try:
        message = json.loads(await _body(response))
    except ValueError:
        return None
    error = message.get("error") if isinstance(message, dict) else None
    return error if isinstance(error, dict) and isinstance(error.get("code"), int) else None


def _status_error(status: int, error: dict[str, Any] | None) -> MCPError:
    """A spec-correct server puts its JSON-RPC error in the body of a 4xx/5xx; otherwise the status speaks."""
    if error is not None:
        return MCPError(code=error["code"], message=str(error.get("message", "")), data=error.get("data"))
    if status == 404:
        return MCPError(code=METHOD_NOT_FOUND, message="Not Found")
    return MCPError(code=INTERNAL_ERROR, message=f"Server returned an error response ({status})")


def _parsed(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise MCPError(code=PARSE_ERROR, message="The upstream sent a message that is not JSON.") from None


def _result(message: Any, request_id: int) -> dict[str, Any]:
    if not isinstance(message, dict) or message.get("id") != request_id:
        raise MCPError(code=INTERNAL_ERROR, message="The upstream answered with something other than this request's "
                                                    "response.")
    error = message.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        raise MCPError(
            code=code if isinstance(code, int) else INTERNAL_ERROR, message=str(error.get("message", "")),
            data=error.get("data"),
        )
    result = message.get("result")
    if not isinstance(result, dict):
        raise MCPError(code=INTERNAL_ERROR, message="The upstream's result is not an object.")
    return result


async def _streamed(
    target: UpstreamTarget, response: aiohttp.ClientResponse, request_id: int, call: DownstreamCall | None
) -> dict[str, Any]:
    """The answer from an SSE stream: progress and log messages for this request go to the caller, a list change
    re-discovers the upstream, and the message with this request's id ends it."""
    async for data in _events(response):
        message = _parsed(data)
        if not isinstance(message, dict):
            continue
        method = message.get("method")
        if method is None and message.get("id") == request_id:
            await _drain(response)
            return _result(message, request_id)
        if method == "notifications/progress":
            await _progress(message.get("params"), request_id, call)
        elif method == "notifications/message":
            await _log(message.get("params"), call)
        elif method in _LIST_CHANGED:
            await rediscover_soon(target.id)
    raise MCPError(code=INTERNAL_ERROR, message="The upstream closed its answer before the result.")


async def _progress(params: Any, request_id: int, call: DownstreamCall | None) -> None:
    if call is None or not isinstance(params, dict) or params.get("progressToken") != request_id:
        return
    progress, total, text = params.get("progress"), params.get("total"), params.get("message")
    if isinstance(progress, int | float) and not isinstance(progress, bool):
        await call.progress(
            progress, total if isinstance(total, int | float) else None, text if isinstance(text, str) else None,
        )


async def _log(params: Any, call: DownstreamCall | None) -> None:
    """A log message sent on this request's stream, to a caller whose level it meets (the request's own, or its
    session's logging/setLevel)."""
    if call is None or not isinstance(params, dict) or "data" not in params:
        return
    level = params.get("level")
    if level not in LOG_LEVELS:
        return  # not a log message a client could read
    if call.session_nonce is not None:
        wanted = relay.log_wanted(call.session_nonce, level)
    else:
        wanted = call.log_level is not None and log_level_passes(level, call.log_level)
    if wanted:
        relayed = {"level": level, "data": params["data"]}
        if isinstance(params.get("logger"), str):
            relayed["logger"] = params["logger"]
        await call.send({"jsonrpc": "2.0", "method": "notifications/message", "params": relayed})


async def _events(response: aiohttp.ClientResponse):
    """The ``data`` of each SSE event (lines joined by newlines); comments, ids and event names are not needed."""
    buffer, data, limit, size = b"", [], _read_limit(), 0
    async for chunk in response.content.iter_any():
        buffer += chunk
        size += len(chunk)
        if size > limit:  # the whole stream, notifications included, within the limit of one answer
            raise _too_large()
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            line = raw.rstrip(b"\r")
            if not line:
                if data:
                    yield b"\n".join(data)
                    data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
    if data:
        yield b"\n".join(data)


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read what is left of a streamed answer (normally just its end), within the limits the SDK client's transport
    uses (proxy.upstream.keepalive), so the connection goes back to the pool; a stream that keeps going is closed."""
    drained = 0
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            while drained <= DRAIN_BYTES and not response.content.at_eof():
                drained += len(await response.content.readany())
    except TimeoutError:
        pass
    if not response.content.at_eof():
        response.close()
