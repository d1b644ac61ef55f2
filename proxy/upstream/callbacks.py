"""What an upstream session does with the upstream's server→client traffic.

A session bound to one client session relays it to that client; only the requests the client said it answers are
offered upstream (the SDK advertises a capability exactly when its callback is set). Every session, pooled or bound,
turns an upstream's ``list_changed`` into an immediate re-discovery of that upstream, so the catalog (and every open
stream's ``list_changed``) follows within seconds instead of at the next scheduled sync.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from mcp import types
from pydantic import BaseModel, ValidationError

from config.cache import process_cache
from config.tasks import enqueue
from proxy import relay
from proxy.protocol.calls import ClientFeatures

logger = logging.getLogger(__name__)


def _wire(model: BaseModel | None) -> dict[str, Any]:
    return {} if model is None else model.model_dump(by_alias=True, exclude_none=True, mode="json")


async def _ask(nonce: str, method: str, params: dict[str, Any], result_type: type[BaseModel], timeout: float):
    """Relay one request to the client; its answer as the SDK type the upstream session expects, or ErrorData."""
    try:
        answer = await relay.client_request(nonce, method, params, timeout=timeout)
    except relay.ClientUnreachable as exc:
        return types.ErrorData(code=types.INVALID_REQUEST, message=str(exc))
    except TimeoutError:
        return types.ErrorData(code=types.INTERNAL_ERROR, message=f"The client did not answer {method} in time.")
    error = answer.get("error")
    if isinstance(error, dict):
        try:
            return types.ErrorData.model_validate(error)
        except ValidationError:
            return types.ErrorData(code=types.INTERNAL_ERROR, message="The client answered with a malformed error.")
    try:
        return result_type.model_validate(answer.get("result"))
    except ValidationError:
        return types.ErrorData(code=types.INVALID_PARAMS, message=f"The client's answer to {method} is invalid.")


_LIST_CHANGED = (
    types.ToolListChangedNotification, types.PromptListChangedNotification, types.ResourceListChangedNotification,
)
# Several sessions (and processes) hear the same change; one re-discovery per upstream within this window is enough.
# A change heard inside the window is not dropped: it is re-discovered once more when the window ends (an upstream
# that changes twice in a row must not leave the catalog at its first change).
_REDISCOVERY_DEBOUNCE_SECONDS = 1
_trailing: dict[int, asyncio.Task] = {}


async def rediscover_soon(upstream_id: int) -> None:
    """Re-discover the upstream now, or at the end of the current debounce window if one is open."""
    key = f"gatehouse:rediscover:{upstream_id}"
    if process_cache().add(key, time.time(), _REDISCOVERY_DEBOUNCE_SECONDS):
        from catalog.tasks import federation_sync_upstream

        # Not on the shared sync thread: with eager Celery (embedded defaults) the task runs the whole discovery
        # right here, and every other ORM call of this process would queue behind it.
        await database_sync_to_async(enqueue, thread_sensitive=False)(federation_sync_upstream, upstream_id)
        return
    pending = _trailing.get(upstream_id)
    if pending is None or pending.done():
        started = process_cache().get(key) or time.time()
        delay = max(0.0, started + _REDISCOVERY_DEBOUNCE_SECONDS - time.time()) + 0.05
        _trailing[upstream_id] = asyncio.create_task(_rediscover_later(upstream_id, delay))


async def _rediscover_later(upstream_id: int, delay: float) -> None:
    await asyncio.sleep(delay)
    _trailing.pop(upstream_id, None)
    await rediscover_soon(upstream_id)


def upstream_notifications(upstream_id: int) -> dict[str, Any]:
    """``mcp.Client`` keyword arguments for any session: re-discover the upstream when its lists change."""

    async def notification(message) -> None:
        if isinstance(message, _LIST_CHANGED):
            await rediscover_soon(upstream_id)

    return {"message_handler": notification}


def session_callbacks(nonce: str, features: ClientFeatures, *, timeout: float, upstream_id: int) -> dict[str, Any]:
    """Keyword arguments for ``mcp.Client`` that relay to the client session ``nonce``.

    ``timeout`` bounds the wait for the client's answer to one relayed request.
    """

    async def sampling(context, params: types.CreateMessageRequestParams):
        return await _ask(nonce, "sampling/createMessage", _wire(params), types.CreateMessageResult, timeout)

    async def elicitation(context, params: types.ElicitRequestParams):
        return await _ask(nonce, "elicitation/create", _wire(params), types.ElicitResult, timeout)

    async def roots(context):
        return await _ask(nonce, "roots/list", {}, types.ListRootsResult, timeout)

    async def log(params: types.LoggingMessageNotificationParams) -> None:
        if relay.log_wanted(nonce, params.level):
            message = {"jsonrpc": "2.0", "method": "notifications/message", "params": _wire(params)}
            await relay.session_notify(nonce, message)

    async def notification(message) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            relayed = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": _wire(message.params)}
            await relay.session_notify(nonce, relayed)
        elif isinstance(message, _LIST_CHANGED):
            await rediscover_soon(upstream_id)
        elif isinstance(message, Exception):
            logger.info("Upstream session bound to a client session reported: %s", message)

    # A bound session mirrors its handshake-era client: real server→client requests, subscriptions and logging.
    callbacks: dict[str, Any] = {"mode": "legacy", "logging_callback": log, "message_handler": notification}
    if features.sampling:
        callbacks["sampling_callback"] = sampling
    if features.elicitation:
        callbacks["elicitation_callback"] = elicitation
    if features.roots:
        callbacks["list_roots_callback"] = roots
    return callbacks


def advertised_callbacks(features: ClientFeatures, *, upstream_id: int) -> dict[str, Any]:
    """Keyword arguments for a pooled ``mcp.Client`` that advertises what its clients can answer.

    Its calls come back ``input_required`` and Gatehouse relays those requests itself (proxy.protocol.input_required);
    these callbacks only run if a handshake-era upstream sends a real request on the shared session, which cannot
    be told apart per client.
    """

    async def refuse(context, params=None):
        return types.ErrorData(
            code=types.INVALID_REQUEST,
            message="Gatehouse cannot relay server-to-client requests on a pooled upstream session: bind this "
            "upstream per client session.",
        )

    callbacks: dict[str, Any] = upstream_notifications(upstream_id)
    if features.sampling:
        callbacks["sampling_callback"] = refuse
    if features.elicitation:
        callbacks["elicitation_callback"] = refuse
    if features.roots:
        callbacks["list_roots_callback"] = refuse
    return callbacks
