"""The request being served, for events raised far from any view (a password saved by a form, a user created by
allauth). Set by RequestContextMiddleware; None outside a request (shell, Celery, management commands)."""
from __future__ import annotations

from contextvars import ContextVar

from django.http import HttpRequest

_current: ContextVar[HttpRequest | None] = ContextVar("gatehouse_current_request", default=None)


def current_request() -> HttpRequest | None:
    return _current.get()


def client_ip(request: HttpRequest | None) -> str | None:
    # REMOTE_ADDR only: a forwarded header is trusted nowhere in accounts, so a client cannot pick the address its
    # failures are recorded under.
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def user_agent(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return request.META.get("HTTP_USER_AGENT", "")[:512]


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        token = _current.set(request)
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)
