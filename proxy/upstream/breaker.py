"""Circuit breaker per upstream, shared by every process through the process cache (Redis when configured).

closed     calls flow (no cache entry: the common case costs one cached read per second per upstream).
open       the health probe saw UNHEALTHY_THRESHOLD failures in a row: calls fail fast with "unavailable".
half-open  the cool-down has passed: one trial call (per cool-down, across processes) goes through; success
           closes the breaker, failure opens it again. A healthy probe closes it too.
"""
from __future__ import annotations

import time

from django.conf import settings

from catalog.snapshot import UpstreamTarget
from config.cache import process_cache
from proxy.upstream.errors import UpstreamUnavailable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
_KEY = "gatehouse:breaker:{}"
_TRIAL_KEY = "gatehouse:breaker-trial:{}"
# How long this process trusts what it last read: bounds the cache reads on the hot path.
LOCAL_SECONDS = 1.0

_local: dict[int, tuple[float, dict | None]] = {}


def _read(upstream_id: int) -> dict | None:
    now = time.monotonic()
    cached = _local.get(upstream_id)
    if cached is not None and now - cached[0] < LOCAL_SECONDS:
        return cached[1]
    state = process_cache().get(_KEY.format(upstream_id))
    _local[upstream_id] = (now, state)
    return state


def breaker_state(upstream_id: int) -> str:
    state = process_cache().get(_KEY.format(upstream_id))
    if state is None:
        return CLOSED
    return HALF_OPEN if time.time() >= state["opened_at"] + settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS else OPEN


def breaker_open(upstream_id: int, *, reason: str = "") -> None:
    state = {"opened_at": time.time(), "reason": reason[:200]}
    process_cache().set(_KEY.format(upstream_id), state, None)
    _local[upstream_id] = (time.monotonic(), state)


def breaker_close(upstream_id: int) -> None:
    process_cache().delete_many([_KEY.format(upstream_id), _TRIAL_KEY.format(upstream_id)])
    _local[upstream_id] = (time.monotonic(), None)


def breaker_admit(target: UpstreamTarget) -> bool:
    """Raise UpstreamUnavailable when the breaker is open; returns True when this call is the half-open trial."""
    state = _read(target.id)
    if state is None:
        return False
    cooldown = settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS
    if time.time() >= state["opened_at"] + cooldown:
        # One trial per cool-down across every process: cache.add succeeds for exactly one caller.
        if process_cache().add(_TRIAL_KEY.format(target.id), 1, cooldown):
            return True
    raise UpstreamUnavailable(f"Upstream '{target.name}' is unavailable.")


def breaker_trial_done(target: UpstreamTarget, *, ok: bool) -> None:
    if ok:
        breaker_close(target.id)
    else:
        breaker_open(target.id, reason="half-open trial failed")
