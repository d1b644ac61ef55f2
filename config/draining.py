"""Graceful shutdown for long-lived event streams.

On SIGTERM uvicorn stops accepting and waits, up to its graceful timeout, for every open connection to finish. A call
in flight finishes by itself; a standing event stream (the Streamable HTTP GET stream, a legacy SSE stream) never
does, so without help it holds the whole shutdown until the deadline and is then cut off mid-stream.

``draining_install()`` (run at ASGI lifespan startup, where uvicorn has already installed its signal handlers) chains
a hook onto those handlers that marks the process as draining. ``DrainStreams`` then ends every open GET event
stream the way a client would see a clean end: an SSE ``retry:`` field (reconnect after that many milliseconds, to a
replica that is still up) and the end of the body; the consumer behind it is told the client disconnected, which is
the path that already releases its session state. POST responses, even streamed ones, are calls in flight: they are
left to finish.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import threading

logger = logging.getLogger(__name__)

RETRY_MILLISECONDS = 2000
_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_EVENT_STREAM = b"text/event-stream"

_draining = threading.Event()
# One asyncio event per event loop that installed the hook (a process runs one server loop; tests may run more).
_loop_events: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}


def draining() -> bool:
    return _draining.is_set()


def draining_begin() -> None:
    """Mark the process as shutting down (also callable directly, e.g. by another server's shutdown hook)."""
    _draining.set()
    for loop, event in list(_loop_events.items()):
        if not loop.is_closed():
            loop.call_soon_threadsafe(event.set)


def draining_install() -> None:
    """Chain ``draining_begin`` onto the server's SIGTERM/SIGINT handlers. Without handlers to chain (a server that
    does not handle signals) or off the main thread, nothing is installed: streams then end at the server's deadline."""
    loop = asyncio.get_running_loop()
    _loop_events.setdefault(loop, asyncio.Event())
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in _SIGNALS:
        previous = signal.getsignal(signum)
        if not callable(previous) or getattr(previous, "_gatehouse_draining", False):
            continue

        def handler(received, frame, previous=previous) -> None:
            draining_begin()
            previous(received, frame)

        handler._gatehouse_draining = True  # type: ignore[attr-defined]
        signal.signal(signum, handler)


async def _drain_requested() -> None:
    loop = asyncio.get_running_loop()
    event = _loop_events.setdefault(loop, asyncio.Event())
    if _draining.is_set():
        event.set()
    await event.wait()


class DrainStreams:
    """ASGI middleware: at shutdown, end open GET event streams with a reconnect hint (see the module docstring)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "GET":
            return await self.app(scope, receive, send)
        stream = _Stream(receive, send)
        try:
            return await self.app(scope, stream.receive, stream.send)
        finally:
            stream.stop()


class _Stream:
    def __init__(self, receive, send) -> None:
        self._receive = receive
        self._send = send
        self._lock = asyncio.Lock()
        self._ended = asyncio.Event()  # ended by the drain: the app sees a disconnect, its writes go nowhere
        self._complete = False
        self._watch: asyncio.Task | None = None

    async def send(self, message) -> None:
        async with self._lock:
            if self._ended.is_set():
                return
            if message["type"] == "http.response.start" and self._is_event_stream(message):
                self._watch = asyncio.create_task(self._end_at_drain())
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                self._complete = True
            await self._send(message)

    async def receive(self):
        if not self._ended.is_set():
            received = asyncio.ensure_future(self._receive())
            ended = asyncio.ensure_future(self._ended.wait())
            try:
                await asyncio.wait({received, ended}, return_when=asyncio.FIRST_COMPLETED)
            finally:  # also when the consumer cancels its pending receive at teardown: leave no task behind
                ended.cancel()
                if not received.done():
                    received.cancel()
            if received.done() and not received.cancelled():
                return received.result()
        return {"type": "http.disconnect"}

    def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()

    @staticmethod
    def _is_event_stream(message) -> bool:
        return any(
            name.lower() == b"content-type" and value.lower().startswith(_EVENT_STREAM)
            for name, value in message.get("headers", [])
        )

    async def _end_at_drain(self) -> None:
        await _drain_requested()
        async with self._lock:
            if self._complete:
                return
            self._complete = True
            try:
                await self._send({"type": "http.response.body", "body": b"retry: %d\n\n" % RETRY_MILLISECONDS,
                                  "more_body": False})
            except OSError:
                pass  # the client went away meanwhile
            self._ended.set()
        logger.info("Shutting down: ended an event stream with a %d ms reconnect hint", RETRY_MILLISECONDS)
