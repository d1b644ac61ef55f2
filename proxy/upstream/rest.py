"""REST APIs as tools: a ``tools/call`` becomes one HTTP request, its answer a CallToolResult.

One pooled HTTP client per (upstream, credential) per event loop, built by config.egress so the SSRF guard checks
every connection; keep-alive connections are reused across calls. What the client learns of a failure names the
upstream and the HTTP status, never its URL's address, its credentials or a stack trace.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import weakref
from typing import Any

import httpx2
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

from catalog.passthrough import PassthroughError, header_value_clean
from catalog.rest import BODY_METHODS, RestArgumentError, path_expand, path_variables, scalar_text
from catalog.snapshot import RestEndpointSpec, UpstreamTarget
from config.egress import EgressRefused, egress_async_client
from config.metrics import upstream_call_observed
from proxy.protocol.jsonrpc import INVALID_PARAMS, JsonRpcError
from proxy.tracing import trace_headers, upstream_noted
from proxy.upstream.breaker import breaker_admit, breaker_call_done
from proxy.upstream.errors import UpstreamTimeout, UpstreamUnavailable

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 4 * 1024 * 1024
ERROR_EXCERPT_CHARS = 1000
_REDACTED = "[redacted]"

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, httpx2.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)
_retiring: set[asyncio.Task] = set()  # closes of retired clients, held so they are not collected mid-way


def _client(target: UpstreamTarget) -> httpx2.AsyncClient:
    """The running loop's client for this upstream and credential; a changed credential retires the old client."""
    clients = _clients.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(target.pool_key)
    if client is None:
        for key in [key for key in clients if key[0] == target.id]:
            closing = asyncio.get_running_loop().create_task(clients.pop(key).aclose())
            _retiring.add(closing)
            closing.add_done_callback(_retiring.discard)
        # Redirects are not followed: a REST tool calls the one URL its definition names.
        client = clients[target.pool_key] = egress_async_client(follow_redirects=False)
    return client


async def rest_clients_close() -> None:
    clients = _clients.pop(asyncio.get_running_loop(), {})
    await asyncio.gather(*(client.aclose() for client in clients.values()), return_exceptions=True)


@functools.lru_cache(maxsize=512)
def _validator(schema_text: str):
    schema = json.loads(schema_text)
    return validator_for(schema)(schema)


def arguments_check(endpoint: RestEndpointSpec, arguments: dict[str, Any]) -> None:
    """Invalid arguments are the caller's error (-32602), with the first reason the schema gives."""
    error = best_match(_validator(endpoint.input_schema).iter_errors(arguments))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path)
        raise JsonRpcError(INVALID_PARAMS, f"Invalid arguments{f' at {where}' if where else ''}: {error.message}")


def request_build(target: UpstreamTarget, endpoint: RestEndpointSpec, arguments: dict[str, Any]) -> httpx2.Request:
    """The HTTP request for these (already schema-checked) arguments. Raises RestArgumentError."""
    base = httpx2.URL(target.url)
    path = base.raw_path.decode("ascii").split("?", 1)[0].rstrip("/") + path_expand(endpoint.path, arguments)
    used = set(path_variables(endpoint.path))
    params: list[tuple[str, str]] = []
    for name in endpoint.query:
        used.add(name)
        if name in arguments and arguments[name] is not None:
            values = arguments[name] if isinstance(arguments[name], list) else [arguments[name]]
            params.extend((name, scalar_text(name, value)) for value in values)
    headers = {"accept": "application/json, text/*;q=0.5", "user-agent": "Gatehouse"}
    for name, header in endpoint.headers:
        used.add(name)
        if name in arguments and arguments[name] is not None:
            try:
                headers[header.lower()] = header_value_clean(header, scalar_text(name, arguments[name]))
            except PassthroughError as exc:
                raise RestArgumentError(str(exc)) from None
    headers.update(trace_headers())  # the request's trace continues upstream (proxy.tracing)
    # The upstream's credentials are set last: no argument can replace them.
    headers.update({name.lower(): value for name, value in target.headers})
    body: Any = None
    if endpoint.body_argument:
        body = arguments.get(endpoint.body_argument)
    elif endpoint.method in BODY_METHODS:
        body = {name: value for name, value in arguments.items() if name not in used}
    # A query in the upstream URL itself (an API version, say) is kept; mapped arguments are added to it.
    raw_path = path + (f"?{base.query.decode('ascii')}" if base.query else "")
    url = base.copy_with(raw_path=raw_path.encode("ascii"), fragment=None).copy_merge_params(params)
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["content"] = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    return httpx2.Request(endpoint.method, url, **kwargs)


def _redacted(text: str, target: UpstreamTarget) -> str:
    """An upstream that echoes the request back must not hand the caller Gatehouse's credentials."""
    for _, value in target.headers:
        for secret in (value, value.partition(" ")[2]):
            if len(secret) >= 4:
                text = text.replace(secret, _REDACTED)
    return text


def _is_json(response: httpx2.Response) -> bool:
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def result_from_response(target: UpstreamTarget, response: httpx2.Response, body: bytes) -> dict[str, Any]:
    text = body.decode(response.encoding or "utf-8", errors="replace")
    if not 200 <= response.status_code < 300:
        excerpt = _redacted(text, target)[:ERROR_EXCERPT_CHARS]
        message = f"HTTP {response.status_code} {response.reason_phrase} from upstream '{target.name}'"
        return {"content": [{"type": "text", "text": f"{message}: {excerpt}" if excerpt else message}], "isError": True}
    if _is_json(response) and body.strip():
        try:
            value = json.loads(body)
        except ValueError:
            pass
        else:
            structured = value if isinstance(value, dict) else {"result": value}
            return {
                "content": [{"type": "text", "text": json.dumps(value, ensure_ascii=False)}],
                "structuredContent": structured,
                "isError": False,
            }
    return {"content": [{"type": "text", "text": text}] if text else [], "isError": False}


async def _send(target: UpstreamTarget, request: httpx2.Request, timeout: float) -> dict[str, Any]:
    try:
        async with asyncio.timeout(timeout):
            response = await _client(target).send(request, stream=True)
            try:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        return {"content": [{"type": "text", "text": (
                            f"The answer of upstream '{target.name}' is larger than {MAX_RESPONSE_BYTES} bytes."
                        )}], "isError": True}
            finally:
                await response.aclose()
    except TimeoutError:
        raise UpstreamTimeout(f"Upstream '{target.name}' did not answer within {timeout:g}s.") from None
    except (httpx2.HTTPError, EgressRefused, OSError) as exc:
        # The cause (addresses, refusal reason) goes to the log; the client learns which upstream failed.
        logger.warning("REST upstream %s is unavailable: %s: %s", target.name, type(exc).__name__, exc)
        raise UpstreamUnavailable(f"Upstream '{target.name}' is unavailable.") from None
    return result_from_response(target, response, bytes(body))


async def rest_call(target: UpstreamTarget, endpoint: RestEndpointSpec, arguments: dict[str, Any] | None) -> dict:
    """Call one REST tool: a CallToolResult as JSON-ready data. Bad arguments raise JsonRpcError (-32602); an
    unreachable or silent upstream raises UpstreamUnavailable (-32000) or UpstreamTimeout (-32001); any HTTP answer,
    2xx or not, is a result (non-2xx with ``isError``)."""
    arguments = arguments or {}
    arguments_check(endpoint, arguments)
    try:
        request = request_build(target, endpoint, arguments)
    except RestArgumentError as exc:
        raise JsonRpcError(INVALID_PARAMS, f"Invalid arguments: {exc}") from None
    timeout = endpoint.timeout_seconds or target.timeout_seconds
    with upstream_call_observed(target.slug):
        upstream_noted(target)
        trial, reached = breaker_admit(target), None
        try:
            result = await _send(target, request, timeout)
            reached = True
        except (UpstreamUnavailable, UpstreamTimeout):
            reached = False
            raise
        finally:
            breaker_call_done(target, trial=trial, reached=reached)
    return result
