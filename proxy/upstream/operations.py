"""Upstream requests as data (method and JSON-ready params), so one can run in whichever process holds the upstream
session: here, or forwarded through the channel layer to the process that owns a session bound to a client session
(proxy.upstream.owners) or holds a call waiting for a stateless client's input (proxy.protocol.holds)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mcp import Client, types
from mcp.shared.exceptions import MCPError
from mcp.types import PromptReference, ResourceTemplateReference
from mcp_types import HEADER_MISMATCH

from proxy.protocol.calls import DownstreamCall


@dataclass(frozen=True, slots=True)
class UpstreamOperation:
    """One upstream request in the upstream's names. ``call`` is the downstream call it serves (its progress goes
    there); a forwarded operation is rebuilt in the owner process around a stand-in call."""

    method: str
    params: dict[str, Any]
    call: DownstreamCall | None = None

    def retried(self, responses: dict[str, Any] | None, state: str | None) -> UpstreamOperation:
        """The same request again with the client's ``inputResponses`` and the upstream's ``requestState``."""
        return dataclasses.replace(self, params={**self.params, "inputResponses": responses, "requestState": state})

    async def __call__(self, client: Client) -> Any:
        runner = _RUNNERS.get(self.method)
        if runner is None:
            raise MCPError(code=types.METHOD_NOT_FOUND, message=f"Cannot forward {self.method}.")
        return await runner(self, client)


async def _tools_call(op: UpstreamOperation, client: Client) -> Any:
    call = op.call
    progress = call.progress if call is not None and call.progress_token is not None else None

    async def attempt():
        return await client.session.call_tool(
            op.params["name"], op.params.get("arguments"), progress_callback=progress,
            input_responses=op.params.get("inputResponses"), request_state=op.params.get("requestState"),
            allow_input_required=True, allow_claimed=True,
        )

    try:
        return await attempt()
    except MCPError as exc:
        # A 2026-07-28 upstream checks Mcp-Param-* headers the session derives from the tool's listing.
        if exc.code != HEADER_MISMATCH:
            raise
        await _relist_tools(client)
        return await attempt()


async def _relist_tools(client: Client) -> None:
    cursor = None
    for _ in range(100):
        cursor = (await client.session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))).next_cursor
        if cursor is None:
            return


async def _prompts_get(op: UpstreamOperation, client: Client) -> Any:
    return await client.session.get_prompt(
        op.params["name"], op.params.get("arguments"), input_responses=op.params.get("inputResponses"),
        request_state=op.params.get("requestState"), allow_input_required=True,
    )


async def _resources_read(op: UpstreamOperation, client: Client) -> Any:
    return await client.session.read_resource(
        op.params["uri"], input_responses=op.params.get("inputResponses"),
        request_state=op.params.get("requestState"), allow_input_required=True,
    )


async def _subscribe(op: UpstreamOperation, client: Client) -> Any:
    params = types.SubscribeRequestParams(uri=op.params["uri"])
    return await client.session.send_request(types.SubscribeRequest(params=params), types.EmptyResult)


async def _unsubscribe(op: UpstreamOperation, client: Client) -> Any:
    params = types.UnsubscribeRequestParams(uri=op.params["uri"])
    return await client.session.send_request(types.UnsubscribeRequest(params=params), types.EmptyResult)


async def _complete(op: UpstreamOperation, client: Client) -> Any:
    ref = op.params["ref"]
    if ref["type"] == "ref/prompt":
        upstream_ref: Any = PromptReference(type="ref/prompt", name=ref["name"])
    else:
        upstream_ref = ResourceTemplateReference(type="ref/resource", uri=ref["uri"])
    return await client.complete(upstream_ref, op.params["argument"], op.params.get("contextArguments"))


_RUNNERS = {
    "tools/call": _tools_call,
    "prompts/get": _prompts_get,
    "resources/read": _resources_read,
    "resources/subscribe": _subscribe,
    "resources/unsubscribe": _unsubscribe,
    "completion/complete": _complete,
}
