"""Traffic capture: MCP messages of servers and upstreams with ``capture_traffic`` on, written off the hot path.

The data plane hands each message to ``capture_submit`` as already-serialised JSON text (it needs the size anyway,
and the dict it came from may change once the call returns). One writer thread redacts it (audit.redaction), clamps
it to CAPTURE_MAX_PAYLOAD_BYTES and writes rows in batches.

A full queue drops the capture instead of waiting: capture is a debugging aid and must never slow or stall calls
(unlike audit events, which apply back-pressure). Each drop is counted (the ``gatehouse_capture_dropped`` metric)
and logged as a warning at most once a minute. The queue is drained at shutdown (proxy.lifespan) and at exit.
"""
from __future__ import annotations

import atexit
import hashlib
import hmac
import logging
import queue
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from prometheus_client import Counter

from audit.queued import SHUTDOWN_SECONDS, QueuedWriter

logger = logging.getLogger(__name__)

# After the first message of a batch, wait this long for more: one transaction per batch, not per message.
LINGER_SECONDS = 0.2
_WARN_EVERY_SECONDS = 60.0

CAPTURED = Counter("gatehouse_capture_messages", "MCP messages captured for traffic inspection.")
DROPPED = Counter("gatehouse_capture_dropped", "Captured MCP messages dropped because the capture queue was full.")


@dataclass(slots=True)
class Capture:
    """One message as the data plane saw it; ``text`` is its compact JSON, not yet redacted."""

    direction: str  # CapturedMessage.Direction value
    method: str
    text: str
    name: str = ""
    rpc_id: str = ""
    session_digest: str = ""
    user_id: int | None = None
    principal_label: str = ""
    token_id: int | None = None
    server_slug: str = ""
    upstream_slug: str = ""
    duration_ms: int | None = None
    request_bytes: int | None = None
    response_bytes: int | None = None
    error_code: int | None = None
    created_at: datetime = field(default_factory=timezone.now)


def session_digest(nonce: str | None) -> str:
    """A stable, keyed digest of a session: rows of one session group together, the session id stays secret."""
    if not nonce:
        return ""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, b"gatehouse.capture:" + nonce.encode(), hashlib.sha256).hexdigest()[:32]


class CaptureWriter(QueuedWriter[Capture]):
    thread_name = "capture-writer"
    linger_seconds = LINGER_SECONDS

    def __init__(self, size: int | None = None) -> None:
        super().__init__(size or (lambda: settings.CAPTURE_QUEUE_SIZE))
        self._last_warning = 0.0
        self.dropped = 0

    def submit(self, capture: Capture) -> bool:
        """Queue one capture without waiting; False (counted, warned) when the queue is full."""
        try:
            self.ready().put_nowait(capture)
        except queue.Full:
            self.dropped += 1
            DROPPED.inc()
            now = time.monotonic()
            if now - self._last_warning > _WARN_EVERY_SECONDS:
                self._last_warning = now
                logger.warning("Traffic capture queue is full: captures are being dropped (%d so far).", self.dropped)
            return False
        CAPTURED.inc()
        return True

    def write(self, batch: list[Capture]) -> None:
        from audit.services import captured_messages_write

        captured_messages_write(captures=batch)  # a failed batch is logged and lost (QueuedWriter), never its payloads


_writer = CaptureWriter()
atexit.register(lambda: _writer.flush() or logger.error("Capture writer: messages still queued at exit"))


def capture_submit(capture: Capture) -> bool:
    return _writer.submit(capture)


def capture_flush(timeout: float = SHUTDOWN_SECONDS) -> bool:
    return _writer.flush(timeout)


def capture_writer() -> CaptureWriter:
    return _writer
