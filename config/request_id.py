"""X-Request-ID correlation: one id per HTTP request or WebSocket connection, in every log line it causes and in the
Celery tasks it enqueues.

An incoming ``X-Request-ID`` of 1-128 characters ``[A-Za-z0-9._-]`` is kept (a proxy in front may have set it);
anything else is replaced by a new random id. The id is echoed on HTTP responses.
"""
from __future__ import annotations

import contextvars
import logging
import re
import uuid

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_VALID = re.compile(r"[A-Za-z0-9._-]{1,128}")
HEADER = b"x-request-id"
TASK_HEADER = "gatehouse_request_id"


def _incoming(scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            text = value.decode("latin-1")
            if _VALID.fullmatch(text):
                return text
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """ASGI middleware around the whole application: Django views and MCP consumers alike."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        rid = _incoming(scope)
        token = request_id.set(rid)

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                headers = [(n, v) for n, v in message.get("headers", ()) if n.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, rid.encode())]}
            await send(message)

        try:
            return await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record as ``request_id`` (empty outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def task_publish_add_request_id(headers=None, **kwargs) -> None:
    """celery before_task_publish: the enqueuing request's id travels in the task's headers."""
    rid = request_id.get()
    if rid and headers is not None:
        headers.setdefault(TASK_HEADER, rid)


def task_prerun_set_request_id(task=None, **kwargs) -> None:
    """celery task_prerun: a task logs under the id of the request that enqueued it (or a fresh one)."""
    incoming = getattr(task.request, TASK_HEADER, None) if task is not None else None
    request_id.set(incoming if isinstance(incoming, str) and _VALID.fullmatch(incoming) else uuid.uuid4().hex)
