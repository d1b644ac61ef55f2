"""Loop detection between federated gateways with the HTTP ``Via`` header (RFC 9110 §7.6.3) and its per-request
counterpart in ``params._meta``.

Every upstream session Gatehouse opens sends ``Via: 1.1 <GATEHOUSE_INSTANCE_ID>``. That header belongs to the session,
which is pooled and shared by many requests, so it cannot carry one request's route: a request that arrived through
other gateways (a Via chain) has the whole chain, plus this gateway, sent in the ``_meta`` of every upstream request
made on its behalf (key ``gatehouse-via``). The MCP SDK client builds each request's ``_meta`` through the global
OpenTelemetry propagator in the caller's context, so a propagator (ViaPropagator) adds the key there, for every
method, without a per-request header. An incoming request whose chain (header and ``_meta``) already names this
instance has come back round a loop (A→B→A is caught by A even through B), and one whose chain is longer than
``GATEHOUSE_VIA_MAX_HOPS`` is refused too: 508 Loop Detected, as a JSON-RPC error.
"""
from __future__ import annotations

import contextvars
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.conf import settings
from opentelemetry.propagators.textmap import Setter, TextMapPropagator, default_setter

from proxy.protocol.jsonrpc import INVALID_REQUEST, JsonRpcError

META_KEY = "gatehouse-via"
LOOP_STATUS = 508
# The chain of the request being answered (received-by names, oldest first); empty outside one or when it came
# straight from a client.
_chain: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("gatehouse_via", default=())


def via_value() -> str:
    return f"1.1 {settings.GATEHOUSE_INSTANCE_ID}"


def _names(value: Any) -> list[str]:
    if not isinstance(value, str):
        return []
    names = []
    for hop in value.split(","):
        parts = hop.strip().split()
        if len(parts) >= 2:
            names.append(parts[1])
    return names


def via_hops(headers: Mapping[str, str] | None, params: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """The intermediaries a request passed, from its ``_meta`` chain and its ``Via`` header, each once."""
    meta = params.get("_meta") if params is not None else None
    hops = _names(meta.get(META_KEY)) if isinstance(meta, dict) else []
    hops += _names(headers.get("via")) if headers is not None else []
    return tuple(dict.fromkeys(hops))


def via_refusal(hops: tuple[str, ...]) -> JsonRpcError | None:
    """The error for a request that came back round a loop or passed too many gateways, else None."""
    if not hops:
        return None
    if settings.GATEHOUSE_INSTANCE_ID in hops:
        return JsonRpcError(
            INVALID_REQUEST, "Loop detected: this request already passed through this gateway.",
            data={"via": list(hops)}, http_status=LOOP_STATUS,
        )
    if len(hops) >= settings.GATEHOUSE_VIA_MAX_HOPS:
        return JsonRpcError(
            INVALID_REQUEST,
            f"Loop detected: this request already passed {len(hops)} gateways "
            f"(GATEHOUSE_VIA_MAX_HOPS is {settings.GATEHOUSE_VIA_MAX_HOPS}).",
            data={"via": list(hops)}, http_status=LOOP_STATUS,
        )
    return None


class _ChainScope:
    def __init__(self, hops: tuple[str, ...]) -> None:
        self.hops = hops

    def __enter__(self) -> None:
        self.token = _chain.set(self.hops)

    def __exit__(self, *exc_info) -> None:
        _chain.reset(self.token)


_NO_CHAIN: AbstractContextManager[None] = nullcontext()


def via_scope(hops: tuple[str, ...]) -> AbstractContextManager[None]:
    """While a request with a Via chain is answered, its upstream requests carry the chain and this gateway (a
    request straight from a client, the common case, costs nothing here)."""
    return _ChainScope(hops) if hops else _NO_CHAIN


def context_without_chain() -> contextvars.Context:
    """The current context minus the request's chain: a pooled session's own task (its handshake, its later
    messages) serves every request, not the one that happened to open it."""
    context = contextvars.copy_context()
    context.run(_chain.set, ())
    return context


class ViaPropagator(TextMapPropagator):
    """Puts the Via chain of the request being answered into an outgoing carrier (an upstream request's ``_meta``)."""

    def inject(self, carrier: Any, context=None, setter: Setter = default_setter) -> None:
        hops = _chain.get()
        if hops:
            setter.set(carrier, META_KEY, ", ".join([*(f"1.1 {name}" for name in hops), via_value()]))

    def extract(self, carrier: Any, context=None, getter=None):
        from opentelemetry.context import get_current

        return context if context is not None else get_current()

    @property
    def fields(self) -> set[str]:
        return {META_KEY}


def via_propagator_install() -> None:
    """Add ViaPropagator to the global propagators (whatever OTEL_PROPAGATORS chose stays). Once per process."""
    from opentelemetry.propagate import get_global_textmap, set_global_textmap
    from opentelemetry.propagators.composite import CompositePropagator

    current = get_global_textmap()
    if isinstance(current, CompositePropagator) and any(isinstance(p, ViaPropagator) for p in current._propagators):
        return
    set_global_textmap(CompositePropagator([current, ViaPropagator()]))
