"""Response headers every Django response carries, beyond what SecurityMiddleware sets."""
from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# Headers that advertise the software behind the response; they help an attacker pick exploits and nobody else.
_REVEALING = ("Server", "X-Powered-By")


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        for name in _REVEALING:
            if name in response.headers:
                del response.headers[name]
        return response
