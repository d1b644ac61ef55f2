"""Hearing an upstream's changes for ``subscriptions/listen`` streams: its list changes and the updates of the
resources the clients subscribed to.

A watch holds an upstream session of its own for this (the pooled sessions carry calls, and a subscription is per
set of resources). The listen streams of one process that ask the same upstream, with the same credential, for the
same resources share one watch: a thousand clients listening to a server cost its upstreams one session each, not a
thousand. A 2026-07-28 upstream is asked through its own ``subscriptions/listen``; a handshake-era one sends its list
changes on its GET stream and its resource updates after ``resources/subscribe``. Whatever the upstream says it
changed is also re-discovered (proxy.upstream.callbacks), so the catalog follows.
"""
from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from mcp import types
from mcp.shared.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
    ToolsListChanged,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from catalog.snapshot import UpstreamTarget
from proxy.upstream.callbacks import rediscover_soon
from proxy.upstream.client import upstream_client

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UpstreamChange:
    """What an upstream announced: ``method`` is a list_changed notification method, or
    ``notifications/resources/updated`` with the upstream's ``uri``."""

    method: str
    uri: str | None = None


Deliver = Callable[[UpstreamChange], Awaitable[None]]

_EVENT_METHODS = {
    ToolsListChanged: "notifications/tools/list_changed",
    PromptsListChanged: "notifications/prompts/list_changed",
    ResourcesListChanged: "notifications/resources/list_changed",
}
_NOTIFICATION_METHODS = {
    types.ToolListChangedNotification: "notifications/tools/list_changed",
    types.PromptListChangedNotification: "notifications/prompts/list_changed",
    types.ResourceListChangedNotification: "notifications/resources/list_changed",
}


def _change_of(event: ServerEvent) -> UpstreamChange:
    if isinstance(event, ResourceUpdated):
        return UpstreamChange("notifications/resources/updated", event.uri)
    return UpstreamChange(_EVENT_METHODS[type(event)])


async def _heard(target: UpstreamTarget, change: UpstreamChange, deliver: Deliver) -> None:
    if change.uri is None:
        await rediscover_soon(target.id)
    await deliver(change)


async def upstream_listen(
    target: UpstreamTarget, uris: list[str], deliver: Deliver, ready: asyncio.Future[list[str]]
) -> None:
    """Hear ``target`` until cancelled. ``ready`` receives the URIs of ``uris`` whose updates the upstream will send
    (none when it does not support subscriptions) once the upstream is listening; connection errors end the task
    (raised before ``ready`` is set, logged after)."""

    subscribed = False  # a 2026-07-28 upstream's listen subscription is live

    async def notification(message) -> None:
        # Handshake-era upstreams: list changes come on the session's GET stream, updates after resources/subscribe.
        # The SDK also tees a listen subscription's events here: those arrive through the subscription, once.
        if subscribed:
            return
        if isinstance(message, types.ResourceUpdatedNotification):
            await deliver(UpstreamChange("notifications/resources/updated", str(message.params.uri)))
        elif type(message) in _NOTIFICATION_METHODS:
            await _heard(target, UpstreamChange(_NOTIFICATION_METHODS[type(message)]), deliver)

    try:
        async with upstream_client(target, {"message_handler": notification}) as client:
            resources = client.server_capabilities.resources
            honored = list(uris) if resources is not None and resources.subscribe else []
            if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
                async with client.listen(
                    tools_list_changed=True, prompts_list_changed=True, resources_list_changed=True,
                    resource_subscriptions=honored,
                ) as subscription:
                    subscribed = True
                    granted = set(subscription.honored.resource_subscriptions or ())
                    ready.set_result([uri for uri in honored if uri in granted])
                    async for event in subscription:
                        await _heard(target, _change_of(event), deliver)
                return
            for uri in honored:
                await client.session.send_request(
                    types.SubscribeRequest(params=types.SubscribeRequestParams(uri=uri)), types.EmptyResult
                )
            ready.set_result(honored)
            await asyncio.Event().wait()  # the GET stream delivers until the listen stream ends
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - a dead upstream ends its watch, never the client's stream
        if not ready.done():
            ready.set_exception(exc)
        else:
            logger.warning("Stopped listening to upstream %s: %s: %s", target.name, type(exc).__name__, exc)


@dataclass(eq=False)
class _Watch:
    """One upstream watch and the listen streams hearing it."""

    ready: asyncio.Future[list[str]]
    listeners: set[Deliver] = field(default_factory=set)
    task: asyncio.Task | None = None

    async def fan_out(self, change: UpstreamChange) -> None:
        for deliver in list(self.listeners):
            await deliver(change)


# Per event loop: (pool key, resource URIs) → the watch.
_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, _Watch]] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def upstream_watched(
    target: UpstreamTarget, uris: list[str], deliver: Deliver
) -> AsyncIterator[asyncio.Future[list[str]]]:
    """Hear ``target`` while inside: ``deliver`` gets what it announces. Yields the future of the URIs it will send
    updates for (as ``upstream_listen``'s ``ready``). The watch is shared with the other streams of this process
    asking the same; the last one out closes it. A watch whose upstream went away is replaced for newcomers."""
    watches = _watches.setdefault(asyncio.get_running_loop(), {})
    key = (target.pool_key, frozenset(uris))
    watch = watches.get(key)
    if watch is None or watch.task.done():
        watch = _Watch(asyncio.get_running_loop().create_future())
        watch.task = asyncio.create_task(upstream_listen(target, list(uris), watch.fan_out, watch.ready))
        watches[key] = watch
    watch.listeners.add(deliver)
    try:
        yield watch.ready
    finally:
        watch.listeners.discard(deliver)
        if not watch.listeners:
            if watches.get(key) is watch:
                del watches[key]
            watch.task.cancel()
            await asyncio.gather(watch.task, return_exceptions=True)


def upstream_watches() -> int:
    """How many upstream watches this event loop holds."""
    return len(_watches.get(asyncio.get_running_loop(), {}))
