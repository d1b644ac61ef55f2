"""What an upstream session bound to one client session does with the upstream's server→client traffic: relay it
to that client. Only the requests the client said it answers are offered upstream (the SDK advertises a
capability exactly when its callback is set)."""
from __future__ import annotations

import logging
from typing import Any

from mcp import types
from pydantic import BaseModel, ValidationError

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


def session_callbacks(nonce: str, features: ClientFeatures, *, timeout: float) -> dict[str, Any]:
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


def advertised_callbacks(features: ClientFeatures) -> dict[str, Any]:
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

    callbacks: dict[str, Any] = {}
    if features.sampling:
        callbacks["sampling_callback"] = refuse
    if features.elicitation:
        callbacks["elicitation_callback"] = refuse
    if features.roots:
        callbacks["list_roots_callback"] = refuse
    return callbacks
