"""Held calls: a stateless (2026-07-28) client calling a handshake-era upstream whose tool sends sampling,
elicitation or roots requests while it runs.

The upstream cannot be retried the MRTR way, so its call is held open on an upstream session of its own (a shared
session could not tell whose call a request belongs to). Each server→client request it sends becomes an
``input_required`` answer to the client: the requests as ``inputRequests``, and a sealed ``requestState``
(proxy.protocol.input_required) that names the held call (the owning process's inbox and the hold id). The client's
retry with ``inputResponses`` — on any process: another one hands it to the owner through the channel layer —
answers the held requests; the upstream call goes on, and its result (or the next round) is the answer. A hold not
resumed within the state's TTL is cancelled, and with it the upstream call.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from mcp import types
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError

from catalog.snapshot import UpstreamTarget
from proxy import relay
from proxy.protocol import input_required
from proxy.protocol.calls import DownstreamCall
from proxy.protocol.jsonrpc import INVALID_PARAMS, JsonRpcError
from proxy.upstream.breaker import CLOSED, breaker_state
from proxy.upstream.client import upstream_client
from proxy.upstream.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from proxy.upstream.operations import UpstreamOperation
from proxy.upstream.pool import upstream_pool

logger = logging.getLogger(__name__)

RESUME_EVENT = "mcp.hold.resume"
RESUME_REPLY = "mcp.hold.reply"
_GONE = "Invalid params: the held call behind this requestState is gone (expired or its process stopped)."

_holds: dict[str, Hold] = {}
_waiting: dict[str, asyncio.Queue] = {}
_background: set[asyncio.Task] = set()


@dataclass(eq=False)
class Hold:
    id: str
    target: UpstreamTarget
    asked: asyncio.Queue = field(default_factory=asyncio.Queue)  # (key, method, params, answer future)
    pending: dict[str, asyncio.Future] = field(default_factory=dict)
    task: asyncio.Task | None = None
    expiry: asyncio.TimerHandle | None = None
    asks: int = 0

    async def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        self.asks += 1
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.asked.put_nowait((f"{method.split('/')[0]}-{self.asks}", method, params, future))
        return await future

    def renew(self) -> None:
        """The hold lives as long as the state that names it."""
        if self.expiry is not None:
            self.expiry.cancel()
        self.expiry = asyncio.get_running_loop().call_later(input_required.STATE_TTL_SECONDS, self.end)

    def end(self) -> None:
        _holds.pop(self.id, None)
        if self.expiry is not None:
            self.expiry.cancel()
        if self.task is not None and not self.task.done():
            self.task.cancel()


async def holding_needed(target: UpstreamTarget, call: DownstreamCall | None) -> bool:
    """A stateless call from a client that can answer server→client requests, to a handshake-era upstream."""
    if call is None or call.session_nonce is not None or not call.features.bits:
        return False
    if breaker_state(target.id) != CLOSED:
        return False  # the call itself fails fast
    try:
        version = await upstream_pool().protocol_version(target, call)
    except UpstreamError:
        return False  # the call itself will report it
    return version not in MODERN_PROTOCOL_VERSIONS


def _wire(model: BaseModel | None) -> dict[str, Any]:
    return {} if model is None else model.model_dump(by_alias=True, exclude_none=True, mode="json")


def _callbacks(hold: Hold, call: DownstreamCall) -> dict[str, Any]:
    async def answer(method: str, params: dict[str, Any], result_type: type[BaseModel]):
        response = await hold.ask(method, params)
        if isinstance(response, types.ErrorData):
            return response
        try:
            return result_type.model_validate(response)
        except ValidationError:
            return types.ErrorData(code=types.INVALID_PARAMS, message=f"The client's answer to {method} is invalid.")

    async def sampling(context, params):
        return await answer("sampling/createMessage", _wire(params), types.CreateMessageResult)

    async def elicitation(context, params):
        return await answer("elicitation/create", _wire(params), types.ElicitResult)

    async def roots(context):
        return await answer("roots/list", {}, types.ListRootsResult)

    callbacks: dict[str, Any] = {"mode": "legacy"}
    if call.features.sampling:
        callbacks["sampling_callback"] = sampling
    if call.features.elicitation:
        callbacks["elicitation_callback"] = elicitation
    if call.features.roots:
        callbacks["list_roots_callback"] = roots
    return callbacks


async def _run(hold: Hold, operation: UpstreamOperation, call: DownstreamCall) -> dict[str, Any]:
    target = hold.target
    try:
        async with upstream_client(target, _callbacks(hold, call)) as client:
            result = await operation(client)
    except MCPError as exc:
        raise UpstreamError(f"Upstream '{target.name}': {exc.error.message}", code=exc.code, data=exc.error.data) from exc
    except (UpstreamError, asyncio.CancelledError):
        raise
    except Exception as exc:  # noqa: BLE001 - any transport failure becomes a named upstream error
        logger.warning("Held call to %s failed: %s", target.name, type(exc).__name__)
        raise UpstreamUnavailable(f"Upstream '{target.name}' is unavailable.") from exc
    return result.model_dump(by_alias=True, exclude_none=True, mode="json")


async def _next_round(hold: Hold) -> dict[str, Any]:
    """Wait for the held call's next server→client request(s) or its end; a request answers ``input_required``."""
    assert hold.task is not None
    waiter = asyncio.ensure_future(hold.asked.get())
    try:
        done, _ = await asyncio.wait({hold.task, waiter}, timeout=hold.target.timeout_seconds,
                                     return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        waiter.cancel()
        hold.end()
        raise
    if waiter in done:
        asked = [waiter.result()]
        while not hold.asked.empty():
            asked.append(hold.asked.get_nowait())
        requests = {}
        for key, method, params, future in asked:
            hold.pending[key] = future
            requests[key] = {"method": method, "params": params}
        hold.renew()
        return {"resultType": "input_required", "inputRequests": requests}
    waiter.cancel()
    if hold.task in done:
        hold.end()
        return hold.task.result()
    hold.end()
    raise UpstreamTimeout(f"Upstream '{hold.target.name}' did not answer within {hold.target.timeout_seconds:g}s.")


def _answer(hold: Hold, responses: dict[str, Any] | None) -> None:
    for key, future in list(hold.pending.items()):
        if future.done():
            continue
        response = (responses or {}).get(key)
        if isinstance(response, dict):
            future.set_result(response)
        else:
            future.set_result(types.ErrorData(code=types.INVALID_PARAMS, message="The client gave no answer."))
    hold.pending.clear()


async def held_round(
    target: UpstreamTarget, binding: input_required.RequestBinding, operation: UpstreamOperation,
    call: DownstreamCall, hold_ref: dict[str, str] | None, responses: dict[str, Any] | None,
) -> dict[str, Any]:
    """Start a held call (``hold_ref`` None) or resume it with the client's ``inputResponses``; the upstream's
    result, or ``input_required`` with a state sealed around the hold."""
    me = await relay.process_inbox()
    if hold_ref is None:
        hold = Hold(secrets.token_urlsafe(16), target)
        _holds[hold.id] = hold
        hold.task = asyncio.get_running_loop().create_task(_run(hold, operation, call), name="mcp-held-call")
        hold.renew()
        outcome, owner, hold_id = await _next_round(hold), me, hold.id
    else:
        owner, hold_id = hold_ref["o"], hold_ref["i"]
        if owner == me:
            outcome = await _resume_here(hold_id, responses)
        else:
            outcome = await _resume_there(owner, me, hold_id, responses, target)
    if input_required.is_input_required(outcome):
        outcome["requestState"] = input_required.state_seal(binding, None, hold={"o": owner, "i": hold_id})
    return outcome


async def _resume_here(hold_id: str, responses: dict[str, Any] | None) -> dict[str, Any]:
    hold = _holds.get(hold_id)
    if hold is None:
        raise JsonRpcError(INVALID_PARAMS, _GONE)
    _answer(hold, responses)
    return await _next_round(hold)


async def _resume_there(
    owner: str, me: str, hold_id: str, responses: dict[str, Any] | None, target: UpstreamTarget
) -> dict[str, Any]:
    resume_id = secrets.token_urlsafe(12)
    replies: asyncio.Queue = asyncio.Queue()
    _waiting[resume_id] = replies
    try:
        await get_channel_layer().send(owner, {
            "type": RESUME_EVENT, "id": resume_id, "reply": me, "hold": hold_id, "responses": responses,
        })
        async with asyncio.timeout(settings.GATEHOUSE_SESSION_OWNER_TIMEOUT_SECONDS):
            if (await replies.get())["kind"] != "accepted":
                raise JsonRpcError(INVALID_PARAMS, _GONE)
        async with asyncio.timeout(target.timeout_seconds + settings.GATEHOUSE_SESSION_OWNER_TIMEOUT_SECONDS):
            reply = await replies.get()
    except TimeoutError:
        raise JsonRpcError(INVALID_PARAMS, _GONE) from None
    finally:
        _waiting.pop(resume_id, None)
    if reply["kind"] == "gone":
        raise JsonRpcError(INVALID_PARAMS, _GONE)
    if reply["kind"] == "result":
        return reply["result"]
    if reply["kind"] == "refused":
        raise JsonRpcError(reply["code"], reply["message"], data=reply.get("data"))
    error = UpstreamTimeout if reply.get("error") == "timeout" else UpstreamError
    raise error(reply["message"], code=reply.get("code"), data=reply.get("data"))


async def _serve_resume(event: dict[str, Any]) -> None:
    layer, reply = get_channel_layer(), event["reply"]
    base = {"type": RESUME_REPLY, "id": event["id"]}
    if event["hold"] not in _holds:
        await layer.send(reply, {**base, "kind": "gone"})
        return
    await layer.send(reply, {**base, "kind": "accepted"})
    try:
        result = await _resume_here(event["hold"], event["responses"])
    except JsonRpcError as exc:
        await layer.send(reply, {**base, "kind": "refused", "code": exc.code, "message": exc.message, "data": exc.data})
        return
    except UpstreamError as exc:
        error = "timeout" if isinstance(exc, UpstreamTimeout) else None
        await layer.send(reply, {**base, "kind": "error", "error": error, "message": str(exc), "code": exc.code,
                                 "data": exc.data})
        return
    await layer.send(reply, {**base, "kind": "result", "result": result})


def _on_resume(event: dict[str, Any]) -> None:
    task = asyncio.get_running_loop().create_task(_serve_resume(event), name="mcp-held-call-resume")
    _background.add(task)
    task.add_done_callback(_background.discard)


def _on_reply(event: dict[str, Any]) -> None:
    replies = _waiting.get(event["id"])
    if replies is not None:
        replies.put_nowait(event)


relay.INBOX_HANDLERS.update({RESUME_EVENT: _on_resume, RESUME_REPLY: _on_reply})
