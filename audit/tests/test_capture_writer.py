"""The capture writer: rows reach the database off the caller's thread; a full queue drops, counts and warns."""
from __future__ import annotations

import logging
import threading

import pytest

from audit import capture as capture_module
from audit.capture import DROPPED, Capture, CaptureWriter
from audit.models import CapturedMessage

pytestmark = pytest.mark.django_db(transaction=True)


def _capture(name: str) -> Capture:
    return Capture(direction="in", method="tools/call", name=name, text='{"jsonrpc":"2.0","id":1}')


def test_queued_captures_are_written_by_flush():
    writer = CaptureWriter(size=10)
    assert all(writer.submit(_capture(f"tool{i}")) for i in range(3))
    assert writer.flush(timeout=10)
    assert sorted(CapturedMessage.objects.values_list("name", flat=True)) == ["tool0", "tool1", "tool2"]


def test_full_queue_drops_counts_and_warns_without_waiting(monkeypatch, caplog):
    release = threading.Event()
    import audit.services

    original = audit.services.captured_messages_write

    def slow_write(*, captures):  # the database is stuck: the writer holds its batch until released
        release.wait(10)
        return original(captures=captures)

    monkeypatch.setattr(audit.services, "captured_messages_write", slow_write)
    writer = CaptureWriter(size=1)
    before = DROPPED._value.get()
    with caplog.at_level(logging.WARNING, logger=capture_module.__name__):
        results = [writer.submit(_capture(f"tool{i}")) for i in range(5)]
    # The writer may have taken the first one into its batch before the queue filled; either way, no caller waited.
    assert results[:2].count(True) >= 1 and results[-1] is False
    assert writer.dropped == results.count(False) == DROPPED._value.get() - before
    assert "capture queue is full" in caplog.text
    release.set()
    assert writer.flush(timeout=10)
    assert CapturedMessage.objects.count() == results.count(True)
