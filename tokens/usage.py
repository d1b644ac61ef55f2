"""Token usage from the data plane: a bounded, async-safe buffer written to the database in batches.

``usage_submit`` never blocks the event loop on the database while there is room; a full buffer is flushed before
the new entry is accepted (back-pressure instead of dropping records). A flush is also scheduled a moment after the
first entry of a batch, so records reach the database within ``FLUSH_DELAY_SECONDS`` on a quiet gateway.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)

FLUSH_DELAY_SECONDS = 1.0


@dataclass(slots=True)
class UsageEntry:
    method: str
    outcome: str  # TokenUsage.Outcome value
    token_id: int | None = None
    jti: str = ""
    user_id: int | None = None
    endpoint: str = ""
    ip: str | None = None
    user_agent: str = ""
    latency_ms: int = 0
    reason: str = ""
    status: int | None = None
    created_at: object = field(default_factory=timezone.now)


class UsageBuffer:
    def __init__(self, max_entries: int | None = None) -> None:
        self._entries: list[UsageEntry] = []
        self._max = max_entries
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled: asyncio.Task | None = None

    @property
    def max_entries(self) -> int:
        return self._max or settings.TOKEN_USAGE_BUFFER_SIZE

    def __len__(self) -> int:
        return len(self._entries)

    def discard(self) -> None:
        """Drop what is buffered without writing it (tests: each starts its database over)."""
        self._entries.clear()

    async def submit(self, entry: UsageEntry) -> None:
        if len(self._entries) >= self.max_entries:
            await self.flush()
        self._entries.append(entry)
        loop = asyncio.get_running_loop()
        if self._scheduled is None or self._scheduled.done() or self._scheduled.get_loop() is not loop:
            self._scheduled = loop.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_DELAY_SECONDS)
        try:
            await self.flush()
        except Exception:  # noqa: BLE001 - a background flush must not die silently
            logger.exception("Writing token usage failed; the entries stay buffered for the next flush.")

    async def flush(self) -> int:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # an asyncio.Lock belongs to one event loop
            self._lock, self._loop = asyncio.Lock(), loop
        async with self._lock:
            batch, self._entries = self._entries, []
            if not batch:
                return 0
            try:
                await database_sync_to_async(_write)(batch)
            except Exception:
                self._entries[:0] = batch  # keep them for the next attempt
                raise
            return len(batch)


def _write(batch: list[UsageEntry]) -> None:
    from tokens.services import token_usage_record_many

    token_usage_record_many(entries=batch)


usage_buffer = UsageBuffer()


async def usage_submit(entry: UsageEntry) -> None:
    """Hand one usage record to the process's buffer (the data plane's entry point)."""
    await usage_buffer.submit(entry)


async def usage_flush() -> int:
    """Write everything buffered now (at shutdown, and in tests)."""
    return await usage_buffer.flush()


async def usage_record_mcp(principal, *, method: str, name: str = "", latency_ms: int = 0, outcome: str = "allowed",
                           reason: str = "", status: int | None = None) -> None:
    """One MCP use by ``principal`` (``name``: the tool, prompt or resource URI), with the client of the current
    connection (tokens.client.current_client). For the data plane to call after each request; sessions without a
    token (none today) are not recorded."""
    from tokens.client import current_client

    if principal is None or (principal.token_id is None and not principal.jti):
        return
    client = current_client.get()
    await usage_submit(UsageEntry(
        method=method, outcome=outcome, token_id=principal.token_id, jti="" if principal.token_id else principal.jti,
        user_id=principal.user_id, endpoint=name, ip=client.ip, user_agent=client.user_agent, latency_ms=latency_ms,
        reason=reason, status=status,
    ))
