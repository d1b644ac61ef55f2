"""Pooled upstream sessions: one initialized session per (upstream, credential), shared by every call.

The SDK client is an async context manager whose task group must be entered and left by one task, so each pooled
session is held open by a small owner task; calls from any task are multiplexed on it. A session that breaks is
dropped and opened again on the next call; a call that failed before reaching the upstream is retried once.

An upstream bound per client session gets one session per (upstream, client session) instead, whose server→client
traffic is relayed to that client; it closes when the client session ends or after it has idled for
``GATEHOUSE_BOUND_SESSION_IDLE_SECONDS``. Such a session lives in one process; calls for it landing elsewhere are
forwarded there (proxy.upstream.owners).
"""
from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx2
from django.conf import settings
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, INVALID_REQUEST

from catalog.snapshot import UpstreamTarget
from config.metrics import upstream_call_observed
from proxy import relay
from proxy.protocol.calls import ClientFeatures, DownstreamCall
from proxy.sessions import session_ended
from proxy.tracing import upstream_noted
from proxy.upstream import owners
from proxy.upstream.breaker import breaker_admit, breaker_call_done
from proxy.upstream.callbacks import advertised_callbacks, session_callbacks, upstream_notifications
from proxy.upstream.client import upstream_client
from proxy.upstream.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from proxy.upstream.via import context_without_chain
from proxy.upstream.oauth import upstream_authorization_ready
from proxy.upstream.operations import UpstreamOperation
from proxy.upstream.stateless import StatelessUpstreams, stateless_serves

logger = logging.getLogger(__name__)

# One call on an initialized client, e.g. ``lambda client: client.call_tool(name, arguments)``.
Operation = Callable[[Client], Awaitable[Any]]

# How often a process looks for bound sessions whose client session was ended elsewhere (a DELETE that reached
# another process): those close within this many seconds instead of at their idle limit.
ENDED_CHECK_SECONDS = 5.0

# Failures after which the upstream cannot have acted on the request, so one retry on a fresh session is safe.
_NOT_DELIVERED = (
    httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.RemoteProtocolError, ConnectionError,
    aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError,
)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _unavailable(target: UpstreamTarget, exc: BaseException) -> UpstreamUnavailable:
    """The client learns which upstream failed; the cause (addresses, URLs) goes to the log only."""
    logger.warning("Upstream %s is unavailable: %s", target.name, _describe(exc))
    return UpstreamUnavailable(f"Upstream '{target.name}' is unavailable.")


def _undelivered(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_undelivered(inner) for inner in exc.exceptions)
    if isinstance(exc, MCPError):
        return exc.code == INVALID_REQUEST and exc.error.message == "Session terminated"
    return isinstance(exc, _NOT_DELIVERED)


class PooledSession:
    def __init__(
        self, target: UpstreamTarget, key: tuple, options: dict[str, Any] | None = None, *, bound: bool = False
    ) -> None:
        self.target = target
        self.key = key
        self.options = options
        # Bound to one client session (its key ends with the session's nonce), not shared.
        self.bound = bound
        self.calls_in_flight = 0
        self.last_used = time.monotonic()
        self._client: Client | None = None
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._owner: asyncio.Task | None = None

    @property
    def is_open(self) -> bool:
        return self._client is not None

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                await self._open()
        assert self._client is not None
        return self._client

    async def _open(self) -> None:
        ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._owner = asyncio.create_task(
            self._hold(ready), name=f"upstream:{self.target.slug}", context=context_without_chain()
        )
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the caller's cancellation.
            async with asyncio.timeout(self.target.timeout_seconds):
                self._client = await asyncio.shield(ready)
        except TimeoutError:
            self._owner.cancel()
            raise UpstreamTimeout(
                f"Upstream '{self.target.name}' did not complete the MCP handshake within "
                f"{self.target.timeout_seconds:g}s."
            ) from None
        except Exception as exc:
            raise _unavailable(self.target, exc) from exc

    async def _hold(self, ready: asyncio.Future[Client]) -> None:
        try:
            async with upstream_client(self.target, self.options) as client:
                ready.set_result(client)
                await self._stop.wait()
        except BaseException as exc:  # noqa: BLE001 - the owner task reports, the callers decide
            if not ready.done():
                if isinstance(exc, Exception):
                    ready.set_exception(exc)
                else:
                    ready.cancel()
            elif not isinstance(exc, asyncio.CancelledError):
                logger.warning("Upstream session to %s ended: %s", self.target.name, _describe(exc))
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self._client = None

    async def close(self) -> None:
        """Leave the session (a clean MCP shutdown when it was open); a session still connecting is cancelled."""
        was_open, self._client = self._client is not None, None
        self._stop.set()
        owner = self._owner
        if owner is None or owner.done():
            return
        if not was_open:
            owner.cancel()
        await asyncio.wait({owner}, timeout=5)
        if not owner.done():
            owner.cancel()


def _idle_limit(pooled: PooledSession) -> float | None:
    """How long a session may sit unused before it is closed: bound sessions and stdio commands (a local process
    per session) are not kept for ever; shared network sessions are."""
    if pooled.bound or pooled.target.caller_headers:  # per caller: see proxy.upstream.passthrough
        return settings.GATEHOUSE_BOUND_SESSION_IDLE_SECONDS
    if pooled.target.transport == "stdio":
        return settings.GATEHOUSE_STDIO_IDLE_SECONDS
    return None


class UpstreamPool:
    def __init__(self) -> None:
        self._sessions: dict[tuple, PooledSession] = {}
        # Requests to 2026-07-28 upstreams, once discovered, go out as plain POSTs (proxy.upstream.stateless).
        self._stateless = StatelessUpstreams()
        self._closing: set[asyncio.Task] = set()
        self._reaper: asyncio.Task | None = None
        # stdio commands that failed to start: (failures in a row, monotonic time before which not to try again).
        self._restart_backoff: dict[tuple, tuple[int, float]] = {}

    def _session(self, target: UpstreamTarget, call: DownstreamCall | None) -> PooledSession:
        nonce = call.session_nonce if call is not None and target.bound_to_client_session else None
        features = call.features if call is not None else ClientFeatures()
        if nonce is not None:
            key = (*target.pool_key, nonce)
        elif features.bits:
            # Pooled, but per set of client capabilities: the upstream asks only for input the client can give.
            key = (*target.pool_key, f"features:{features.bits}")
        else:
            key = target.pool_key
        pooled = self._sessions.get(key)
        if pooled is None:
            if nonce is not None:
                options = session_callbacks(nonce, features, timeout=target.timeout_seconds, upstream_id=target.id)
                self._reap_idle_later()
            elif features.bits:
                options = advertised_callbacks(features, upstream_id=target.id)
            else:
                options = upstream_notifications(target.id)
            pooled = self._sessions[key] = PooledSession(target, key, options, bound=nonce is not None)
            if _idle_limit(pooled) is not None:
                self._reap_idle_later()
        pooled.last_used = time.monotonic()
        return pooled

    def _check_restart_backoff(self, target: UpstreamTarget) -> None:
        """A stdio command that keeps failing to start is not respawned on every call: wait 1, 2, 4 … 60 s."""
        failures, retry_at = self._restart_backoff.get(target.pool_key, (0, 0.0))
        wait = retry_at - time.monotonic()
        if failures and wait > 0:
            raise UpstreamUnavailable(f"Upstream '{target.name}' failed to start; retrying in {wait:.0f}s.")

    def _record_start(self, target: UpstreamTarget, *, ok: bool) -> None:
        if target.transport != "stdio":
            return
        if ok:
            self._restart_backoff.pop(target.pool_key, None)
            return
        failures = self._restart_backoff.get(target.pool_key, (0, 0.0))[0] + 1
        delay = min(settings.GATEHOUSE_STDIO_RESTART_BACKOFF_MAX_SECONDS, 2 ** (failures - 1))
        self._restart_backoff[target.pool_key] = (failures, time.monotonic() + delay)

    def _drop(self, pooled: PooledSession) -> None:
        """Forget a broken session at once; its teardown runs in the background so the caller is not held."""
        if self._sessions.get(pooled.key) is pooled:
            del self._sessions[pooled.key]
            if pooled.bound:
                owners.owner_release(pooled.key, relay.process_inbox_name())
        closing = asyncio.create_task(pooled.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def protocol_version(self, target: UpstreamTarget, call: DownstreamCall | None) -> str:
        """The protocol version the upstream speaks on the session ``call`` would use (opened if need be)."""
        pooled = self._session(target, call)
        if not pooled.is_open:
            self._check_restart_backoff(target)
        return (await pooled.client()).protocol_version

    def bound_session(self, key: tuple) -> PooledSession | None:
        """The session bound to a client session under ``key`` if this pool holds it."""
        pooled = self._sessions.get(key)
        return pooled if pooled is not None and pooled.bound else None

    def release_client_session(self, nonce: str) -> None:
        """The client session ended: close the upstream sessions bound to it."""
        for key, pooled in list(self._sessions.items()):
            if key[-1] == nonce and pooled.bound:
                self._drop(pooled)

    def _reap_idle_later(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap_idle(), name="upstream-pool:reaper")

    async def _reap_idle(self) -> None:
        """Close sessions with an idle limit that have gone unused past it, and bound sessions whose client session
        was ended on any process; stop when none are left."""
        while True:
            limited = [(pooled, _idle_limit(pooled)) for pooled in self._sessions.values()]
            limited = [(pooled, limit) for pooled, limit in limited if limit is not None]
            if not limited:
                return
            period = min(30.0, *(limit for _, limit in limited))
            if any(pooled.bound for pooled, _ in limited):
                period = min(period, ENDED_CHECK_SECONDS)
            await asyncio.sleep(period)
            for pooled, limit in limited:
                idle = pooled.calls_in_flight == 0 and time.monotonic() - pooled.last_used > limit
                ended = pooled.bound and session_ended(pooled.key[-1])
                if (idle or ended) and self._sessions.get(pooled.key) is pooled:
                    self._drop(pooled)

    async def request(
        self, target: UpstreamTarget, operation: Operation, call: DownstreamCall | None = None
    ) -> dict[str, Any]:
        """Run ``operation`` on the upstream session for ``call`` (pooled, or bound to the call's client session);
        returns the result as JSON-ready data or raises UpstreamError. An open circuit breaker
        (proxy.upstream.breaker) fails the call fast without touching the upstream."""
        # OAuth upstreams: a token at hand, or a clear answer (connect first) that is no upstream failure.
        await upstream_authorization_ready(target)
        with upstream_call_observed(target.slug):
            # None: neither (the caller went away): a cancelled call says nothing about the upstream.
            upstream_noted(target)
            trial, reached = breaker_admit(target), None
            try:
                result = await self._request(target, operation, call)
                reached = True
            except UpstreamError as exc:
                reached = not isinstance(exc, (UpstreamUnavailable, UpstreamTimeout))  # an error answer proves life
                raise
            finally:
                breaker_call_done(target, trial=trial, reached=reached)
            return result

    async def _request(
        self, target: UpstreamTarget, operation: Operation, call: DownstreamCall | None
    ) -> dict[str, Any]:
        if call is not None and call.session_nonce is not None and target.bound_to_client_session:
            key = (*target.pool_key, call.session_nonce)
            if key not in self._sessions:
                # Not held here (yet): another process may own this client session's upstream session.
                result = await owners.forwarded(target, key, operation, call)
                if result is not None:
                    return result
        for attempt in (1, 2):
            pooled = self._session(target, call)
            starting = not pooled.is_open
            if starting:
                self._check_restart_backoff(target)
            pooled.calls_in_flight += 1
            try:
                async with asyncio.timeout(target.timeout_seconds):
                    client = await pooled.client()
                    if starting:
                        self._record_start(target, ok=True)
                    result = await self._run(pooled, client, operation)
            except TimeoutError:
                if not pooled.is_open:
                    # Timed out while connecting: drop the half-open session rather than leave its owner task behind.
                    self._drop(pooled)
                    self._record_start(target, ok=False)
                raise UpstreamTimeout(
                    f"Upstream '{target.name}' did not answer within {target.timeout_seconds:g}s."
                ) from None
            except UpstreamError:
                if starting and not pooled.is_open:
                    self._record_start(target, ok=False)
                self._drop(pooled)
                raise
            except MCPError as exc:
                if attempt == 1 and _undelivered(exc):
                    self._drop(pooled)
                    continue
                # A closed connection is no answer: the breaker counts it (proxy.upstream.breaker).
                error = UpstreamUnavailable if exc.code == CONNECTION_CLOSED else UpstreamError
                if exc.code == CONNECTION_CLOSED:
                    self._drop(pooled)
                raise error(
                    f"Upstream '{target.name}': {exc.error.message}", code=exc.code, data=exc.error.data
                ) from exc
            except Exception as exc:  # noqa: BLE001 - any transport failure becomes a named upstream error
                self._drop(pooled)
                if attempt == 1 and _undelivered(exc):
                    continue
                raise _unavailable(target, exc) from exc
            finally:
                pooled.calls_in_flight -= 1
                pooled.last_used = time.monotonic()
            return result
        raise AssertionError("unreachable")

    async def _run(self, pooled: PooledSession, client: Client, operation: Operation) -> dict[str, Any]:
        if isinstance(operation, UpstreamOperation) and stateless_serves(
            pooled.target, operation, bound=pooled.bound, protocol_version=client.protocol_version
        ):
            return await self._stateless.request(pooled.target, operation)
        return (await operation(client)).model_dump(by_alias=True, exclude_none=True, mode="json")

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(pooled.close() for pooled in sessions), *self._closing, return_exceptions=True)
        await self._stateless.close()


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, UpstreamPool] = weakref.WeakKeyDictionary()


def upstream_pool() -> UpstreamPool:
    """The pool of the running event loop (sessions cannot cross loops)."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = UpstreamPool()
    return pool


def upstream_pool_sizes() -> dict[int, int]:
    """Open pooled sessions per upstream id, over every event loop of this process (for /metrics)."""
    sizes: dict[int, int] = {}
    for pool in list(_pools.values()):
        for pooled in list(pool._sessions.values()):
            if pooled.is_open:
                sizes[pooled.target.id] = sizes.get(pooled.target.id, 0) + 1
    return sizes


async def upstream_pool_close() -> None:
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.close()
