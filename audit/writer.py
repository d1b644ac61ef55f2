"""Audit from the data plane without waiting on the database: events go through a bounded in-process queue to one
writer thread. Nothing is dropped: a full queue makes the caller wait (back-pressure, off the event loop), and the
queue is drained when the process exits.
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import queue
from typing import Any

from audit.queued import QueuedWriter

logger = logging.getLogger(__name__)

QUEUE_SIZE = 10_000


class AuditWriter(QueuedWriter[dict[str, Any]]):
    thread_name = "audit-writer"

    def __init__(self, size: int = QUEUE_SIZE) -> None:
        super().__init__(size)

    def submit(self, event: dict[str, Any]) -> None:
        """Queue one event (audit_record's keyword arguments plus ``action``); waits while the queue is full."""
        self.ready().put(event)

    async def asubmit(self, event: dict[str, Any]) -> None:
        """The same from async code: immediate when there is room, else the wait happens in a thread."""
        pending = self.ready()
        try:
            pending.put_nowait(event)
        except queue.Full:
            await asyncio.to_thread(pending.put, event)

    def write(self, batch: list[dict[str, Any]]) -> None:
        from audit.services import audit_record

        for event in batch:
            try:
                event = dict(event)
                audit_record(event.pop("action"), **event)
            except Exception:  # noqa: BLE001 - one bad event must not stop the writer; it is logged whole
                logger.exception("Audit event could not be written: %r", event)


_writer = AuditWriter()
atexit.register(lambda: _writer.flush() or logger.error("Audit writer: events still queued at exit"))


async def audit_security_event_async(action: str, **fields: Any) -> None:
    """audit_security_event for the MCP hot path: returns as soon as the event is queued."""
    await _writer.asubmit({"action": action, **fields, "security": True})


def audit_writer() -> AuditWriter:
    return _writer
