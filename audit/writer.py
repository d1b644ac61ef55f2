"""Audit from the data plane without waiting on the database: events go through a bounded in-process queue to one
writer thread. Nothing is dropped: a full queue makes the caller wait (back-pressure, off the event loop), and the
queue is drained when the process exits.
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import threading
import time
from typing import Any

from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
BATCH = 200
SHUTDOWN_SECONDS = 10.0


class AuditWriter:
    def __init__(self, size: int = QUEUE_SIZE) -> None:
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                    self._thread.start()

    def submit(self, event: dict[str, Any]) -> None:
        """Queue one event (audit_record's keyword arguments plus ``action``); waits while the queue is full."""
        self._ensure_thread()
        self._queue.put(event)

    async def asubmit(self, event: dict[str, Any]) -> None:
        """The same from async code: immediate when there is room, else the wait happens in a thread."""
        self._ensure_thread()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            await asyncio.to_thread(self._queue.put, event)

    def flush(self, timeout: float = SHUTDOWN_SECONDS) -> bool:
        """Wait until every queued event is written; False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _run(self) -> None:
        from audit.services import audit_record

        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            close_old_connections()
            for event in batch:
                try:
                    event = dict(event)
                    audit_record(event.pop("action"), **event)
                except Exception:  # noqa: BLE001 - one bad event must not stop the writer; it is logged whole
                    logger.exception("Audit event could not be written: %r", event)
                finally:
                    self._queue.task_done()
            connections.close_all()


_writer = AuditWriter()
atexit.register(lambda: _writer.flush() or logger.error("Audit writer: events still queued at exit"))


async def audit_security_event_async(action: str, **fields: Any) -> None:
    """audit_security_event for the MCP hot path: returns as soon as the event is queued."""
    await _writer.asubmit({"action": action, **fields, "security": True})


def audit_writer() -> AuditWriter:
    return _writer
