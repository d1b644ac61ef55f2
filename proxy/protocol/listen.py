"""``subscriptions/listen`` (2026-07-28): a POST whose SSE response is the client's notification stream.

The first message acknowledges what will be delivered (``notifications/subscriptions/acknowledged``); then the stream
carries the list changes the client asked for whenever what this principal can see on this server changes (the
catalog pulse wakes it; the same snapshot comparison as the handshake-era standing streams), the list changes its
upstreams announce, and ``notifications/resources/updated`` for the subscribed URIs whose upstream sends updates.
Every frame carries the listen request's id in ``_meta``. The credential is re-checked as on a standing stream: a
revoked token or a removed server ends the stream with the graceful-close result; closing the response ends it too.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY

from catalog.snapshot import CatalogSnapshot, UpstreamTarget
from proxy.protocol.admission import RATE_LIMITED, admitted
from proxy.protocol.jsonrpc import INVALID_PARAMS, JsonRpcError, RequestId
from proxy.protocol.pulse import catalog_change_wait
from proxy.protocol.session_messages import Conversation, ConversationEnded, conversation_check
from proxy.protocol.watch import CatalogWatch
from proxy.snapshots import snapshot_for
from proxy.upstream.listening import UpstreamChange, upstream_watched

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]

# Filter field → the notification method it opts into.
_LIST_FILTERS = {
    "toolsListChanged": "notifications/tools/list_changed",
    "promptsListChanged": "notifications/prompts/list_changed",
    "resourcesListChanged": "notifications/resources/list_changed",
}
LISTEN_METHOD = "subscriptions/listen"
UPDATED = "notifications/resources/updated"
MAX_RESOURCE_SUBSCRIPTIONS = 100
_UNWATCHED = frozenset({"stdio", "rest"})
# Each stream may hold upstream sessions of its own (a watch shared only with streams asking the same): one principal
# may not pile them up (per process).
MAX_STREAMS_PER_PRINCIPAL = 10
_open_streams: Counter[str] = Counter()


@dataclass(slots=True)
class ListenRequest:
    """What the client asked for: list-change methods and resource URIs (as the client names them)."""

    methods: frozenset[str]
    uris: tuple[str, ...]

    @classmethod
    def parse(cls, params: dict[str, Any]) -> ListenRequest:
        wanted = params.get("notifications")
        if not isinstance(wanted, dict):
            raise JsonRpcError(INVALID_PARAMS, "Invalid params: subscriptions/listen needs a 'notifications' object.")
        uris = wanted.get("resourceSubscriptions") or []
        if not isinstance(uris, list) or not all(isinstance(uri, str) for uri in uris):
            raise JsonRpcError(INVALID_PARAMS, "Invalid params: 'resourceSubscriptions' must be a list of URIs.")
        if len(uris) > MAX_RESOURCE_SUBSCRIPTIONS:
            raise JsonRpcError(
                INVALID_PARAMS,
                f"Invalid params: at most {MAX_RESOURCE_SUBSCRIPTIONS} resource subscriptions per stream.",
            )
        methods = frozenset(method for key, method in _LIST_FILTERS.items() if wanted.get(key) is True)
        return cls(methods, tuple(dict.fromkeys(uris)))


@dataclass(slots=True)
class _Upstreams:
    """The upstream watches of one stream and what they hear, mapped back to the client's names."""

    changes: asyncio.Queue[UpstreamChange] = field(default_factory=asyncio.Queue)
    watches: AsyncExitStack = field(default_factory=AsyncExitStack)
    # (upstream id, upstream URI) → the URI the client subscribed to.
    names: dict[tuple[int, str], str] = field(default_factory=dict)
    honored_uris: list[str] = field(default_factory=list)

    async def start(self, snapshot: CatalogSnapshot, request: ListenRequest) -> None:
        """Listen to every MCP upstream this server draws from; wait until each listens (or failed)."""
        wanted: dict[int, list[str]] = {}
        targets: dict[int, UpstreamTarget] = {}
        for uri in request.uris:
            route = snapshot.resource_route(uri)
            if route is not None and route.rest is None:
                targets[route.upstream.id] = route.upstream
                wanted.setdefault(route.upstream.id, []).append(route.original_name)
                self.names[(route.upstream.id, route.original_name)] = uri
        if request.methods:
            for route in _routes(snapshot):
                targets.setdefault(route.upstream.id, route.upstream)
        # A REST upstream speaks no MCP; a stdio one would need a second process per stream (its changes reach the
        # catalog by scheduled sync).
        targets = {key: target for key, target in targets.items() if target.transport not in _UNWATCHED}
        readies = []
        for upstream_id, target in targets.items():
            watched = upstream_watched(target, wanted.get(upstream_id, []), self._deliverer(upstream_id))
            readies.append((target, await self.watches.enter_async_context(watched)))
        for target, granted in zip(targets.values(), await asyncio.gather(*(_granted(*pair) for pair in readies))):
            self.honored_uris.extend(self.names[(target.id, uri)] for uri in granted)

    def _deliverer(self, upstream_id: int) -> Callable[[UpstreamChange], Awaitable[None]]:
        async def deliver(change: UpstreamChange) -> None:
            if change.uri is not None:
                name = self.names.get((upstream_id, change.uri))
                if name is None:
                    return  # not one this client subscribed to (or a sub-resource Gatehouse cannot name)
                change = UpstreamChange(change.method, name)
            self.changes.put_nowait(change)

        return deliver

    async def stop(self) -> None:
        await self.watches.aclose()


async def _granted(target: UpstreamTarget, ready: asyncio.Future[list[str]]) -> list[str]:
    """The upstream URIs ``target`` will send updates for, once it listens; none if it cannot be reached in time."""
    try:
        async with asyncio.timeout(target.timeout_seconds):
            return await asyncio.shield(ready)
    except Exception as exc:  # noqa: BLE001 - an unreachable upstream: its updates are not honored
        logger.warning("Listen stream cannot hear upstream %s: %s", target.name, type(exc).__name__)
        return []


def _routes(snapshot: CatalogSnapshot):
    yield from snapshot.tools.values()
    yield from snapshot.prompts.values()
    yield from snapshot.resources.values()
    for template in snapshot.templates:
        yield template.route


async def listen_serve(
    conversation: Conversation, snapshot: CatalogSnapshot, request_id: RequestId, params: dict[str, Any], *,
    send: Send, keepalive: Callable[[], Awaitable[None]],
) -> dict[str, Any]:
    """Serve one listen stream until it must end; returns the graceful-close result (raises JsonRpcError on bad
    params, before anything is sent)."""
    request = ListenRequest.parse(params)
    principal = conversation.principal
    async with admitted(principal, LISTEN_METHOD, params):  # the per-token request rate counts the opening
        pass
    owner = str(principal.cache_key)
    if _open_streams[owner] >= MAX_STREAMS_PER_PRINCIPAL:
        raise JsonRpcError(
            RATE_LIMITED, f"Too many open subscriptions/listen streams (at most {MAX_STREAMS_PER_PRINCIPAL}).",
            data={"retryAfterSeconds": 1},
        )
    _open_streams[owner] += 1
    meta = {SUBSCRIPTION_ID_META_KEY: request_id}
    upstreams = _Upstreams()
    try:
        await upstreams.start(snapshot, request)
        honored: dict[str, Any] = {key: True for key, method in _LIST_FILTERS.items() if method in request.methods}
        if upstreams.honored_uris:
            honored["resourceSubscriptions"] = upstreams.honored_uris
        await send(_notification("notifications/subscriptions/acknowledged", {"notifications": honored}, meta))
        reason = await _deliver(conversation, snapshot, request.methods, upstreams, meta, send, keepalive)
        logger.info("Ending a subscriptions/listen stream: %s", reason)
    finally:
        _open_streams[owner] -= 1
        if not _open_streams[owner]:
            del _open_streams[owner]
        await upstreams.stop()
    return {"_meta": meta}


async def _deliver(
    conversation: Conversation, snapshot: CatalogSnapshot, methods: frozenset[str], upstreams: _Upstreams,
    meta: dict[str, Any], send: Send, keepalive: Callable[[], Awaitable[None]],
) -> str:
    watch = CatalogWatch(snapshot)
    heard = asyncio.ensure_future(upstreams.changes.get())
    last_keepalive = last_check = time.monotonic()
    try:
        while True:
            pulse = asyncio.ensure_future(catalog_change_wait(settings.GATEHOUSE_LIST_CHANGED_SECONDS))
            await asyncio.wait({pulse, heard}, return_when=asyncio.FIRST_COMPLETED)
            pulse.cancel()
            now = time.monotonic()
            if pulse.done() and not pulse.cancelled() or now - last_check >= settings.GATEHOUSE_LIST_CHANGED_SECONDS:
                last_check = now
                try:
                    version = await conversation_check(conversation)
                except ConversationEnded as ended:
                    return str(ended)
                current = await snapshot_for(conversation.principal, conversation.server_slug, version)
                if current is None:
                    return f"Unknown server: {conversation.server_slug}"
                snapshot = current
                for change in watch.changes(snapshot):
                    if change["method"] in methods:
                        await send(_notification(change["method"], {}, meta))
            if heard.done():
                change, heard = heard.result(), asyncio.ensure_future(upstreams.changes.get())
                if change.uri is not None and snapshot.resource_route(change.uri) is not None:
                    await send(_notification(UPDATED, {"uri": change.uri}, meta))
                elif change.method in methods:
                    # The upstream's own announcement: entries of it this principal sees may have changed (the
                    # re-discovery it triggers lands later and is compared like any catalog change).
                    await send(_notification(change.method, {}, meta))
            if now - last_keepalive >= settings.GATEHOUSE_SSE_KEEPALIVE_SECONDS:
                await keepalive()
                last_keepalive = now
    finally:
        heard.cancel()


def _notification(method: str, params: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": {**params, "_meta": meta}}
