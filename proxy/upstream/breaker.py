"""Circuit breaker per upstream, shared by every process through the process cache (Redis when configured).

closed     calls flow (no cache entry: the common case costs one cached read per second per upstream).
open       UNHEALTHY_THRESHOLD failures in a row, seen by the health probe or by real calls (a refused or dropped
           connection, a timeout; an upstream's error answer is not a failure): calls fail fast with "unavailable".
half-open  the cool-down has passed: one trial call (per cool-down, across processes) goes through; success
           closes the breaker, failure opens it again. A healthy probe closes it too.

Real calls count their failures in the shared cache too (one increment per failure, across processes); a success
clears the count only in a process that saw a failure, so the healthy hot path writes nothing.
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
_FAILURES_KEY = "gatehouse:breaker-failures:{}"
# A failure count older than this is forgotten: "in a row" means within a few minutes, not over days.
FAILURES_TTL_SECONDS = 300
# How long this process trusts what it last read: bounds the cache reads on the hot path.
LOCAL_SECONDS = 1.0

_local: dict[int, tuple[float, dict | None]] = {}
# Upstreams whose calls failed in this process since their last success (the only ones a success must reset).
_failing: set[int] = set()


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
    process_cache().delete_many(
        [_KEY.format(upstream_id), _TRIAL_KEY.format(upstream_id), _FAILURES_KEY.format(upstream_id)]
    )
    _local[upstream_id] = (time.monotonic(), None)
    _failing.discard(upstream_id)


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


def breaker_call_failed(target: UpstreamTarget) -> None:
    """A real call could not reach the upstream or got no answer in time: one more failure in a row; at
    UNHEALTHY_THRESHOLD the breaker opens for every process."""
    _failing.add(target.id)
    cache, key = process_cache(), _FAILURES_KEY.format(target.id)
    cache.add(key, 0, FAILURES_TTL_SECONDS)
    try:
        failures = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, FAILURES_TTL_SECONDS)
        failures = 1
    if failures >= settings.UNHEALTHY_THRESHOLD and _read(target.id) is None:
        breaker_open(target.id, reason=f"{failures} calls in a row failed")


def breaker_call_succeeded(target: UpstreamTarget) -> None:
    """The upstream answered: its failures are no longer "in a row" (free unless this process saw one)."""
    if target.id in _failing:
        _failing.discard(target.id)
        process_cache().delete(_FAILURES_KEY.format(target.id))


def breaker_call_done(target: UpstreamTarget, *, trial: bool, reached: bool | None) -> None:
    """What the pool and the REST caller report after every call: ``reached`` True when the upstream answered at
    all (an error answer proves it is alive), False when it could not be reached or did not answer in time, None
    when the call ended otherwise (cancelled by its client)."""
    if trial:
        breaker_trial_done(target, ok=bool(reached))
    elif reached:
        breaker_call_succeeded(target)
    elif reached is False:
        breaker_call_failed(target)
