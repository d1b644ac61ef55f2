"""Helpers for enqueueing Celery tasks from services."""
from __future__ import annotations

from django.db import transaction


def enqueue(task, *args) -> None:
    """Send ``task`` once the current transaction commits (at once outside one), so a worker never loads a row that
    is not there yet. Arguments are ids and plain values: tasks load rows themselves."""
    transaction.on_commit(lambda: task.delay(*args))
