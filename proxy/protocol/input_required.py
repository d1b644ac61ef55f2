"""Multi-round-trip requests (2026-07-28, "MRTR"): a ``tools/call``, ``prompts/get`` or ``resources/read`` that needs
input from the client answers ``input_required`` with ``inputRequests`` and an opaque ``requestState``; the client
retries with ``inputResponses`` and the state unchanged.

Through Gatehouse:
- A stateless client gets the upstream's ``inputRequests`` as they are, and a ``requestState`` Gatehouse sealed (AES-GCM)
  around the upstream's own state. The seal is bound to the principal, the method, the entry and its arguments, and
  expires; each state opens once. A tampered, foreign, expired or replayed state is refused (-32602).
- A handshake-era client cannot retry that way: Gatehouse asks it each input request as a real server→client
  request on the call's stream and retries the upstream itself.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from config.cache import process_cache
from config.crypto import SecretDecryptionError, seal, unseal
from proxy import relay
from proxy.protocol.calls import DownstreamCall
from proxy.protocol.jsonrpc import INVALID_PARAMS, JsonRpcError
from teams.principal import Principal

STATE_TTL_SECONDS = 600
MAX_BRIDGED_ROUNDS = 8
_USED_PREFIX = "gatehouse:mrtr-state-used:"
_REFUSED = "Invalid params: requestState is not valid for this request (tampered, foreign, expired or replayed)."

# Retry the upstream request with (inputResponses, upstream requestState); returns the upstream's result.
Retry = Callable[[dict[str, Any] | None, str | None], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class RequestBinding:
    """What a sealed state is bound to: who asked, and for exactly which request."""

    principal: Principal
    method: str
    name: str
    arguments: Any

    @property
    def purpose(self) -> str:
        digest = hashlib.sha256(json.dumps(self.arguments, sort_keys=True, default=str).encode()).hexdigest()
        return f"mcp-request-state|{self.principal.cache_key}|{self.method}|{self.name}|{digest}"


def is_input_required(result: dict[str, Any]) -> bool:
    return result.get("resultType") == "input_required"


def state_seal(binding: RequestBinding, upstream_state: str | None, *, hold: dict[str, str] | None = None) -> str:
    """``hold`` names a held upstream call (proxy.protocol.holds): its owner process and id."""
    payload = {"s": upstream_state, "x": int(time.time()) + STATE_TTL_SECONDS, "j": secrets.token_urlsafe(12)}
    if hold is not None:
        payload["h"] = hold
    return seal(json.dumps(payload), purpose=binding.purpose)


def state_open(binding: RequestBinding, sealed: Any) -> str | None:
    """The upstream's state inside ``sealed``; raises -32602 unless it is genuine, ours, live and unused."""
    return state_open_held(binding, sealed)[0]


def state_open_held(binding: RequestBinding, sealed: Any) -> tuple[str | None, dict[str, str] | None]:
    """The upstream's state and the held call inside ``sealed`` (see state_open)."""
    if not isinstance(sealed, str) or len(sealed) > 65_536:
        raise JsonRpcError(INVALID_PARAMS, _REFUSED)
    try:
        payload = json.loads(unseal(sealed, purpose=binding.purpose))
    except (SecretDecryptionError, ValueError):
        raise JsonRpcError(INVALID_PARAMS, _REFUSED) from None
    if payload["x"] < time.time() or not process_cache().add(_USED_PREFIX + payload["j"], 1, STATE_TTL_SECONDS):
        raise JsonRpcError(INVALID_PARAMS, _REFUSED)
    return payload["s"], payload.get("h")


def passed_through(binding: RequestBinding, result: dict[str, Any]) -> dict[str, Any]:
    """An upstream ``input_required`` result for a stateless client: its requests as they are, our sealed state."""
    result["requestState"] = state_seal(binding, result.get("requestState"))
    return result


async def bridged(call: DownstreamCall | None, result: dict[str, Any], retry: Retry, *, timeout: float) -> dict[str, Any]:
    """Drive an upstream's ``input_required`` for a handshake-era client: ask it each request, retry upstream."""
    rounds = 0
    while is_input_required(result):
        rounds += 1
        if call is None or call.session_nonce is None or rounds > MAX_BRIDGED_ROUNDS:
            raise JsonRpcError(INVALID_PARAMS, "The upstream needs input this client cannot be asked for.")
        responses = {}
        for key, request in (result.get("inputRequests") or {}).items():
            try:
                answer = await relay.client_request(
                    call.session_nonce, request.get("method", ""), request.get("params") or {}, timeout=timeout
                )
            except relay.ClientUnreachable as exc:
                raise JsonRpcError(INVALID_PARAMS, str(exc)) from None
            if "error" in answer:
                raise JsonRpcError(INVALID_PARAMS, f"The client declined {request.get('method')}.", data=answer["error"])
            responses[key] = answer.get("result")
        result = await retry(responses, result.get("requestState"))
    return result
