"""MCP method handlers. Plain async functions of (context, params): no transport, no socket."""
from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from catalog.snapshot import CatalogSnapshot, Route
from config.metrics import mcp_request_observed
from proxy import relay
from proxy.protocol import capture, holds, input_required, versions
from proxy.protocol.admission import admitted
from proxy.protocol.calls import LOG_LEVELS, DownstreamCall
from proxy.protocol.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpcError
from proxy.protocol.result_cap import capped_answer
from proxy.sessions import McpSession
from proxy.upstream.errors import UpstreamError
from proxy.upstream.operations import UpstreamOperation
from proxy.upstream.passthrough import target_for_call
from proxy.upstream.pool import Operation, upstream_pool
from proxy.upstream.rest import rest_call
from teams.principal import Principal
from tokens.usage import usage_record_mcp

SERVER_VERSION = "0.1.0"
RESOURCE_NOT_FOUND = -32002

# Keys an upstream puts in a result that describe the upstream, not the answer; a client must not see them.
_UPSTREAM_ONLY_META = ("io.modelcontextprotocol/serverInfo",)


@dataclass(frozen=True, slots=True)
class CallContext:
    principal: Principal
    snapshot: CatalogSnapshot
    session: McpSession | None  # None in the stateless era
    call: DownstreamCall | None = None


Handler = Callable[[CallContext, dict[str, Any]], Awaitable[dict[str, Any]]]


def server_capabilities(snapshot: CatalogSnapshot) -> dict[str, Any]:
    """What this server offers the principal: tools and logging always, the rest when the snapshot has any.

    Resource subscriptions need an upstream bound per client session (its update notifications belong to one client).
    """
    capabilities: dict[str, Any] = {"tools": {"listChanged": True}, "logging": {}}
    if snapshot.resource_listing or snapshot.template_listing:
        subscribe = any(route.upstream.bound_to_client_session for route in snapshot.resources.values())
        capabilities["resources"] = {"subscribe": subscribe, "listChanged": True}
    if snapshot.prompt_listing:
        capabilities["prompts"] = {"listChanged": True}
    if snapshot.prompt_listing or snapshot.template_listing:
        capabilities["completions"] = {}
    return capabilities


def initialize_result(snapshot: CatalogSnapshot, params: dict[str, Any]) -> dict[str, Any]:
    """The answer to ``initialize``: the negotiated version, what this server offers, who it is."""
    requested = params.get("protocolVersion")
    if not isinstance(requested, str) or not isinstance(params.get("capabilities", {}), dict):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: initialize needs 'protocolVersion' and 'capabilities'.")
    return {
        "protocolVersion": versions.negotiate(requested),
        "capabilities": server_capabilities(snapshot),
        "serverInfo": {"name": "gatehouse", "title": snapshot.server_name, "version": SERVER_VERSION},
    }


def _string(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str):
        raise JsonRpcError(INVALID_PARAMS, f"Invalid params: '{key}' must be a string.")
    return value


def _string_map(params: dict[str, Any], key: str) -> dict[str, str] | None:
    value = params.get(key)
    if value is not None and (not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())):
        raise JsonRpcError(INVALID_PARAMS, f"Invalid params: '{key}' must be an object of strings.")
    return value


def _page(listing: tuple[dict[str, Any], ...], params: dict[str, Any], key: str) -> dict[str, Any]:
    """One page of a listing behind an opaque cursor; a cursor Gatehouse did not issue is invalid params."""
    cursor = params.get("cursor")
    start = 0
    if cursor is not None:
        try:
            if not isinstance(cursor, str) or not cursor.isascii():
                raise ValueError
            start = int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("o:"))
            if start < 0:
                raise ValueError
        except (ValueError, UnicodeError):
            raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown cursor.") from None
    size = settings.GATEHOUSE_TOOLS_PAGE_SIZE
    result: dict[str, Any] = {key: list(listing[start : start + size])}
    if start + size < len(listing):
        result["nextCursor"] = base64.urlsafe_b64encode(f"o:{start + size}".encode()).decode()
    return result


async def _upstream(ctx: CallContext, route: Route, operation: Operation) -> dict[str, Any]:
    return _relayed(await _upstream_raw(ctx, route, operation))


async def _upstream_raw(ctx: CallContext, route: Route, operation: Operation) -> dict[str, Any]:
    try:
        return await upstream_pool().request(target_for_call(route.upstream), operation, ctx.call)
    except UpstreamError as exc:
        raise JsonRpcError(exc.code, str(exc), data=exc.data) from None


async def _interactive(
    ctx: CallContext, route: Route, binding: input_required.RequestBinding, params: dict[str, Any],
    operation: UpstreamOperation,
) -> dict[str, Any]:
    """A request the upstream may answer with ``input_required``: passed through, sealed, to a stateless client;
    bridged into server→client requests for a handshake-era one (see proxy.protocol.input_required)."""
    responses = params.get("inputResponses")
    if responses is not None and not isinstance(responses, dict):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: 'inputResponses' must be an object.")
    state, hold = input_required.state_open_held(binding, params["requestState"]) if "requestState" in params else (
        None, None)
    if hold is not None or (ctx.session is None and await holds.holding_needed(route.upstream, ctx.call)):
        # A handshake-era upstream's server→client requests, turned into rounds of input_required (holds).
        try:
            result = await holds.held_round(
                target_for_call(route.upstream), binding, operation, ctx.call, hold, responses,
            )
        except UpstreamError as exc:
            raise JsonRpcError(exc.code, str(exc), data=exc.data) from None
        asking = input_required.is_input_required(result)
        result = _relayed(result)
        if asking:
            result["resultType"] = "input_required"
        return result

    async def attempt(responses: dict[str, Any] | None, state: str | None) -> dict[str, Any]:
        return await _upstream_raw(ctx, route, operation.retried(responses, state))

    result = await attempt(responses, state)
    if not input_required.is_input_required(result):
        return _relayed(result)
    if ctx.session is None:
        result = _relayed(input_required.passed_through(binding, result))
        result["resultType"] = "input_required"
        return result
    timeout = route.upstream.timeout_seconds
    return _relayed(await input_required.bridged(ctx.call, result, attempt, timeout=timeout))


def _relayed(result: dict[str, Any]) -> dict[str, Any]:
    """A result as the handshake-era client should see it: without modern-only fields or upstream identity."""
    for key in ("resultType", "ttlMs", "cacheScope"):
        result.pop(key, None)
    meta = result.get("_meta")
    if meta:
        for key in _UPSTREAM_ONLY_META:
            meta.pop(key, None)
        if not meta:
            del result["_meta"]
    return result


async def ping(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    return {}


async def tools_list(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    return _page(ctx.snapshot.tool_listing, params, "tools")


async def tools_call(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    name = _string(params, "name")
    arguments = params.get("arguments")
    if arguments is not None and not isinstance(arguments, dict):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: 'arguments' must be an object.")
    route = ctx.snapshot.tools.get(name)
    if route is None:
        raise JsonRpcError(INVALID_PARAMS, f"Unknown tool: {name}")
    if route.rest is not None:
        # A REST upstream's tool is one HTTP request, not an MCP session (proxy.upstream.rest).
        try:
            return await rest_call(target_for_call(route.upstream), route.rest, arguments)
        except UpstreamError as exc:
            raise JsonRpcError(exc.code, str(exc), data=exc.data) from None
    operation = UpstreamOperation("tools/call", {"name": route.original_name, "arguments": arguments}, ctx.call)
    binding = input_required.RequestBinding(ctx.principal, "tools/call", name, arguments)
    return await _interactive(ctx, route, binding, params, operation)


async def prompts_list(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    return _page(ctx.snapshot.prompt_listing, params, "prompts")


async def prompts_get(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    name = _string(params, "name")
    arguments = _string_map(params, "arguments")
    route = ctx.snapshot.prompts.get(name)
    if route is None:
        raise JsonRpcError(INVALID_PARAMS, f"Unknown prompt: {name}")
    binding = input_required.RequestBinding(ctx.principal, "prompts/get", name, arguments)
    operation = UpstreamOperation("prompts/get", {"name": route.original_name, "arguments": arguments}, ctx.call)
    return await _interactive(ctx, route, binding, params, operation)


async def resources_list(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    return _page(ctx.snapshot.resource_listing, params, "resources")


async def resource_templates_list(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    return _page(ctx.snapshot.template_listing, params, "resourceTemplates")


async def resources_read(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    uri = _string(params, "uri")
    route = ctx.snapshot.resource_route(uri)
    if route is None:
        raise JsonRpcError(RESOURCE_NOT_FOUND, "Resource not found", data={"uri": uri})
    binding = input_required.RequestBinding(ctx.principal, "resources/read", uri, None)
    operation = UpstreamOperation("resources/read", {"uri": route.original_name}, ctx.call)
    return await _interactive(ctx, route, binding, params, operation)


async def _subscription(ctx: CallContext, params: dict[str, Any], subscribe: bool) -> dict[str, Any]:
    uri = _string(params, "uri")
    route = ctx.snapshot.resource_route(uri)
    if route is None:
        raise JsonRpcError(RESOURCE_NOT_FOUND, "Resource not found", data={"uri": uri})
    if ctx.session is None or not route.upstream.bound_to_client_session:
        raise JsonRpcError(
            METHOD_NOT_FOUND,
            f"Resource subscriptions are not available for {uri}: its upstream is not bound per client session.",
        )
    method = "resources/subscribe" if subscribe else "resources/unsubscribe"
    return await _upstream(ctx, route, UpstreamOperation(method, {"uri": route.original_name}, ctx.call))


async def resources_subscribe(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    return await _subscription(ctx, params, subscribe=True)


async def resources_unsubscribe(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    return await _subscription(ctx, params, subscribe=False)


async def logging_set_level(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    """The least severe level of upstream log messages relayed to this session."""
    level = params.get("level")
    if level not in LOG_LEVELS:
        raise JsonRpcError(INVALID_PARAMS, f"Invalid params: 'level' must be one of {', '.join(LOG_LEVELS)}.")
    if ctx.session is not None:
        relay.log_level_set(ctx.session.nonce, level)
    return {}


async def completion_complete(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    ref, argument = params.get("ref"), params.get("argument")
    if not isinstance(ref, dict) or not isinstance(argument, dict):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: completion needs 'ref' and 'argument' objects.")
    argument = _string_map(params, "argument") or {}
    context = params.get("context")
    context_arguments = _string_map(context, "arguments") if isinstance(context, dict) else None
    if ref.get("type") == "ref/prompt":
        route = ctx.snapshot.prompts.get(_string(ref, "name"))
        upstream_ref = {"type": "ref/prompt", "name": route.original_name} if route else None
    elif ref.get("type") == "ref/resource":
        route = ctx.snapshot.template_route(_string(ref, "uri"))
        upstream_ref = {"type": "ref/resource", "uri": route.original_name} if route else None
    else:
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: 'ref.type' must be 'ref/prompt' or 'ref/resource'.")
    if route is None:
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown completion reference.")
    operation = UpstreamOperation(
        "completion/complete",
        {"ref": upstream_ref, "argument": argument, "contextArguments": context_arguments},
        ctx.call,
    )
    return await _upstream(ctx, route, operation)


HANDLERS: dict[str, Handler] = {
    "ping": ping,
    "tools/list": tools_list,
    "tools/call": tools_call,
    "prompts/list": prompts_list,
    "prompts/get": prompts_get,
    "resources/list": resources_list,
    "resources/templates/list": resource_templates_list,
    "resources/read": resources_read,
    "resources/subscribe": resources_subscribe,
    "resources/unsubscribe": resources_unsubscribe,
    "logging/setLevel": logging_set_level,
    "completion/complete": completion_complete,
}


async def handle_request(ctx: CallContext, method: str, params: dict[str, Any]) -> dict[str, Any]:
    if ctx.snapshot.capture_any:  # traffic capture is opt-in per server or upstream (proxy.protocol.capture)
        return await capture.captured(ctx, method, params, _handle_request)
    return await _handle_request(ctx, method, params)


async def _handle_request(ctx: CallContext, method: str, params: dict[str, Any]) -> dict[str, Any]:
    handler = HANDLERS.get(method)
    if handler is None:
        raise JsonRpcError(METHOD_NOT_FOUND, f"Method not found: {method}")
    # Only catalog names become label values: a client-chosen unknown name must not mint new time series.
    name = params.get("name") if method == "tools/call" else None
    tool = name if isinstance(name, str) and name in ctx.snapshot.tools else ""
    started, outcome = time.perf_counter(), "error"
    try:
        with mcp_request_observed(ctx.snapshot.server_slug, method, tool, ctx.session):
            async with admitted(ctx.principal, method, params):  # rate limits and in-flight calls per token
                result = capped_answer(method, await handler(ctx, params))
                outcome = "allowed"
                return result
    finally:
        # Every use of a token is recorded (tokens.usage buffers the rows and writes them in batches).
        latency_ms = int((time.perf_counter() - started) * 1000)
        await usage_record_mcp(ctx.principal, method=method, name=tool, latency_ms=latency_ms, outcome=outcome)
