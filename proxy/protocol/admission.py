"""Which endpoints a principal may open, before any session exists. Shared by every transport."""
from __future__ import annotations

from catalog.selectors import AGGREGATE_SLUG
from proxy.protocol.jsonrpc import INVALID_REQUEST, JsonRpcError
from teams.principal import Principal


def aggregate_refusal(principal: Principal, server_slug: str, *, endpoint: str) -> JsonRpcError | None:
    """Why ``principal`` may not use the aggregate endpoint (``endpoint`` names the transport's path), or None.

    A token restricted to some virtual servers must name one: the aggregate endpoint would widen it.
    """
    if server_slug != AGGREGATE_SLUG or principal.server_ids is None:
        return None
    return JsonRpcError(
        INVALID_REQUEST, f"This token is restricted to specific virtual servers: use /servers/<slug>/{endpoint}."
    )
