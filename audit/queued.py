"""A bounded in-process queue drained by one daemon thread in batches: the data plane's way to reach the database
without waiting on it (audit events, captured traffic)."""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)

Item = TypeVar("Item")

BATCH = 200
SHUTDOWN_SECONDS = 10.0


class QueuedWriter(Generic[Item]):
    """Subclasses name their thread and write a batch in ``write``; ``linger_seconds`` is how long the thread waits
    for more items after the first of a batch (one transaction per batch, not per item)."""

    thread_name = "queued-writer"
    linger_seconds = 0.0

    def __init__(self, size: int | Callable[[], int]) -> None:
        self._size = size  # a callable when the size comes from settings, read on first use
        self._queue: queue.Queue[Item] | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def write(self, batch: list[Item]) -> None:
        raise NotImplementedError

    def ready(self) -> queue.Queue[Item]:
        """The queue, with its thread running."""
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._queue is None:
                    self._queue = queue.Queue(maxsize=self._size() if callable(self._size) else self._size)
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
                    self._thread.start()
        return self._queue

    def flush(self, timeout: float = SHUTDOWN_SECONDS) -> bool:
        """Wait until every queued item is written; False if ``timeout`` passed first."""
        if self._queue is None:
            return True
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def discard(self) -> None:
        """Forget what is queued (tests: each starts its database over)."""
        if self._queue is None:
            return
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return
            self._queue.task_done()

    def _run(self) -> None:
        pending = self._queue
        while True:
            batch = [pending.get()]
            deadline = time.monotonic() + self.linger_seconds
            while len(batch) < BATCH:
                try:
                    batch.append(pending.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            close_old_connections()
            try:
                self.write(batch)
            except Exception:  # noqa: BLE001 - the thread must outlive a failed batch; items are not logged
                logger.exception("%s: a batch of %d could not be written; it is lost.", self.thread_name, len(batch))
            finally:
                if pending.empty():
                    # Idle: give the connection back (busy, the next batch reuses it).
                    connections.close_all()
                for _ in batch:
                    pending.task_done()
