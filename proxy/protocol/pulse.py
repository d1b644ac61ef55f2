"""The catalog pulse: wakes the streams of this process when the catalog version changes.

One reader per event loop looks at the version (the shared cache, so a change made on any process is seen) a few
times a second while someone waits, instead of every open stream polling on its own.
"""
from __future__ import annotations

import asyncio
import weakref

from catalog.version import catalog_version_current

PULSE_SECONDS = 0.25


class _Pulse:
    def __init__(self) -> None:
        self.changed = asyncio.Event()
        self.waiters = 0
        self.reader: asyncio.Task | None = None

    async def read(self) -> None:
        version = await catalog_version_current()
        while self.waiters:
            await asyncio.sleep(PULSE_SECONDS)
            current = await catalog_version_current()
            if current != version:
                version = current
                self.changed.set()
                self.changed = asyncio.Event()


_pulses: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pulse] = weakref.WeakKeyDictionary()


async def catalog_change_wait(timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the catalog version to change; whether it did."""
    loop = asyncio.get_running_loop()
    pulse = _pulses.get(loop)
    if pulse is None:
        pulse = _pulses[loop] = _Pulse()
    changed = pulse.changed
    pulse.waiters += 1
    try:
        if pulse.reader is None or pulse.reader.done():
            pulse.reader = loop.create_task(pulse.read(), name="catalog-pulse")
        async with asyncio.timeout(timeout):
            await changed.wait()
        return True
    except TimeoutError:
        return False
    finally:
        pulse.waiters -= 1
